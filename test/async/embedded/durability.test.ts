import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BrokerDirectoryBusyError, embeddedBroker } from '../../../src/async/embedded/index.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { drained, msg, publishAll, range, record, settle, tempDir, text, until } from './helpers.js';

const child = fileURLToPath(new URL('./fixtures/crash-child.ts', import.meta.url));

/** Run the crash child until it printed `acks` ACKED lines, SIGKILL it, and return the ids it reported. */
async function runAndKill(mode: 'publish' | 'consume', dir: string, acks: number): Promise<string[]> {
  const proc = spawn(process.execPath, ['--import', 'tsx', child, mode, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.on('exit', (_code, signal) => resolve(signal)));
  const acked: string[] = [];
  const lines = createInterface({ input: proc.stdout });
  // Read to the end: lines still in the pipe after the kill were acknowledged too.
  for await (const line of lines) {
    if (line.startsWith('ERROR')) throw new Error(line);
    if (line.startsWith('ACKED ')) acked.push(line.slice(6));
    if (acked.length >= acks && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }
  const signal = await exited;
  if (signal !== 'SIGKILL') throw new Error(`child ended without being killed (${signal}): ${stderr}`);
  return acked;
}

describe('embedded broker: durability', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(() => tmp.remove());

  it('keeps acknowledged publishes across close and reopen', async () => {
    const first = embeddedBroker({ dir: tmp.dir });
    await publishAll(first, 't', range(300).map((id) => msg(id, { key: `k${id.length}` })));
    await first.close();
    const second = embeddedBroker({ dir: tmp.dir });
    const r = await record(second, 't', { group: 'g', start: { from: 'earliest' }, prefetch: 64 });
    await until(() => r.ids.length === 300);
    expect(r.ids.sort()).toEqual(range(300).sort());
    expect(text(r.deliveries.find((d) => d.message.id === 'm7')!.message.body)).toBe('body-m7');
    // Sequences continue where they were.
    expect((await second.publish('t', msg('after'))).sequence).toBe(301);
    await second.close();
  });

  it('redelivers unacked deliveries after reopen, counting the earlier delivery, and not the acked ones', async () => {
    const clock = new FakeClock();
    const first = embeddedBroker({ dir: tmp.dir, clock });
    const r1 = await record(first, 't', { group: 'g', prefetch: 10 }, async (d) => {
      if (d.message.id === 'a' || d.message.id === 'c') await d.ack();
    });
    await publishAll(first, 't', ['a', 'b', 'c', 'd'].map((id) => msg(id)));
    await until(() => r1.ids.length === 4);
    await settle(5);
    await first.close();
    const second = embeddedBroker({ dir: tmp.dir, clock });
    expect(await second.lag('t', 'g')).toMatchObject({ pending: 2, inFlight: 0 });
    const r2 = await record(second, 't', { group: 'g' });
    await until(() => r2.ids.length === 2);
    expect(r2.deliveries.map((d) => [d.message.id, d.message.attempt])).toEqual([
      ['b', 2],
      ['d', 2],
    ]);
    await second.close();
  });

  it('opens a version-1 directory (per-entry windows), redelivers what its window lists, and marks it version 2', async () => {
    const first = embeddedBroker({ dir: tmp.dir, retention: { deleteAcked: false } });
    await publishAll(first, 't', range(5).map((id) => msg(id)));
    const r1 = await record(first, 't', { group: 'g', start: { from: 'earliest' } });
    await until(() => r1.ids.length === 5);
    await drained(first, 't', 'g');
    await first.close();
    // What a version-1 build leaves: m1 (seq 2) and m3 (seq 4) unacked, delivered once, listed per entry.
    const db = new Database(join(tmp.dir, 'broker.db'));
    db.prepare(`UPDATE meta SET v = 1 WHERE k = 'schema_version'`).run();
    db.prepare(`UPDATE groups SET cursor = 6, unsettled = ? WHERE name = 'g'`).run(Buffer.from([2, 4, 1, 2, 1]));
    db.close();
    const second = embeddedBroker({ dir: tmp.dir, retention: { deleteAcked: false } });
    const r2 = await record(second, 't', { group: 'g' });
    await until(() => r2.ids.length === 2);
    await settle(5);
    expect(r2.deliveries.map((d) => [d.message.id, d.message.attempt])).toEqual([
      ['m1', 2],
      ['m3', 2],
    ]);
    await second.close();
    const check = new Database(join(tmp.dir, 'broker.db'), { readonly: true });
    expect(check.prepare(`SELECT v FROM meta WHERE k = 'schema_version'`).pluck().get()).toBe(2);
    check.close();
  });

  it('refuses a directory of a newer schema version than it knows', async () => {
    const first = embeddedBroker({ dir: tmp.dir });
    await first.close();
    const db = new Database(join(tmp.dir, 'broker.db'));
    db.prepare(`UPDATE meta SET v = 3 WHERE k = 'schema_version'`).run();
    db.close();
    expect(() => embeddedBroker({ dir: tmp.dir })).toThrow(/schema version 3/);
  });

  it('keeps a group position and its parked (delayed) messages across reopen', async () => {
    const clock = new FakeClock();
    const tuning = { windowLimit: 4, readAheadPage: 4 };
    const first = embeddedBroker({ dir: tmp.dir, clock, tuning });
    const seen: string[] = [];
    const sub = await first.subscribe('t', { group: 'g', prefetch: 1 }, async (d) => {
      seen.push(d.message.id);
      await d.ack();
    });
    await publishAll(first, 't', range(6).map((id) => msg(id, { delayMs: 60_000 })));
    await first.publish('t', msg('now'));
    await until(() => seen.length === 1);
    expect(seen).toEqual(['now']);
    expect(first.stats().parked).toBeGreaterThan(0);
    await sub.close();
    await first.close();
    const second = embeddedBroker({ dir: tmp.dir, clock, tuning });
    expect((await second.lag('t', 'g')).pending).toBe(6);
    const r = await record(second, 't', { group: 'g', prefetch: 2 });
    await settle(10);
    expect(r.ids).toEqual([]);
    await clock.advance(60_000);
    await until(() => r.ids.length === 6);
    expect(r.ids.sort()).toEqual(range(6).sort());
    await second.close();
  });

  it('keeps per-key order across reopen: the held messages of a key still wait for the first', async () => {
    const first = embeddedBroker({ dir: tmp.dir });
    const held = await record(first, 't', { group: 'g', prefetch: 10 }, 'hold');
    await publishAll(first, 't', ['a1', 'a2', 'a3', 'b1'].map((id) => msg(id, { key: id[0] })));
    await until(() => held.ids.length === 2);
    expect(held.ids.sort()).toEqual(['a1', 'b1']);
    await first.close();
    const second = embeddedBroker({ dir: tmp.dir });
    const order: string[] = [];
    let inFlightA = 0;
    let overlap = false;
    await second.subscribe('t', { group: 'g', prefetch: 10 }, async (d) => {
      if (d.message.key === 'a' && inFlightA++ > 0) overlap = true;
      await settle(2);
      order.push(`${d.message.id}@${d.message.attempt}`);
      if (d.message.key === 'a') inFlightA--;
      await d.ack();
    });
    await until(() => order.length === 4);
    expect(overlap).toBe(false);
    expect(order.filter((o) => o.startsWith('a'))).toEqual(['a1@2', 'a2@1', 'a3@1']);
    expect(order).toContain('b1@2');
    await second.close();
  });

  it('reports a corrupt row through onError and retries, instead of crashing the process', async () => {
    const first = embeddedBroker({ dir: tmp.dir });
    await publishAll(first, 't', range(3).map((id) => msg(id)));
    await first.close();
    const raw = new Database(join(tmp.dir, 'broker.db'));
    raw.prepare("UPDATE batches SET data = x'0500000000'").run();
    raw.close();
    const clock = new FakeClock();
    const errors: unknown[] = [];
    const second = embeddedBroker({ dir: tmp.dir, clock, onError: (e) => errors.push(e) });
    await second.subscribe('t', { group: 'g', start: { from: 'earliest' } }, async (d) => d.ack());
    await until(() => errors.length === 1);
    await clock.advance(1_000);
    await until(() => errors.length === 2);
    await second.close();
  });

  it('when the disk is full, publishes fail with the error, nothing spins, and it recovers once there is room', async () => {
    const errors: unknown[] = [];
    const broker = embeddedBroker({ dir: tmp.dir, onError: (e) => errors.push(e) });
    const r = await record(broker, 't', { group: 'g', prefetch: 100 });
    await broker.publish('t', msg('before'));
    await until(() => r.ids.length === 1);
    // Reach into the connection to simulate a full disk: SQLite refuses to grow the file past this.
    const db = (broker as unknown as { db: Database.Database }).db;
    const pages = db.pragma('page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${pages + 2}`);
    const big = (id: string) => ({ id, headers: {}, body: new Uint8Array(64 * 1024) });
    await expect(broker.publish('t', big('too-much'))).rejects.toMatchObject({ code: 'SQLITE_FULL' });
    expect(errors.length).toBeGreaterThan(0);
    const transactions = broker.stats().transactions;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(broker.stats().transactions).toBe(transactions); // no retry storm
    db.pragma('max_page_count = 4294967294');
    await broker.publish('t', big('after'));
    await until(() => r.ids.includes('after'));
    expect(r.ids).not.toContain('too-much');
    await broker.close();
  });

  it('is owned by one broker at a time: a second open of the directory fails until the first closes', async () => {
    const first = embeddedBroker({ dir: tmp.dir });
    expect(() => embeddedBroker({ dir: tmp.dir })).toThrow(BrokerDirectoryBusyError);
    await first.close();
    const second = embeddedBroker({ dir: tmp.dir });
    await second.close();
  });

  it('after SIGKILL of a publisher, every publish it saw acknowledged is there', async () => {
    const acked = await runAndKill('publish', tmp.dir, 2_000);
    const broker = embeddedBroker({ dir: tmp.dir });
    const stored = new Set<string>();
    await broker.subscribe('crash', { group: 'check', start: { from: 'earliest' }, prefetch: 256 }, async (d) => {
      stored.add(d.message.id);
      expect(d.message.headers.n).toBe(d.message.id);
      await d.ack();
    });
    await until(() => acked.every((id) => stored.has(id)), 'all acked publishes present');
    expect(acked.filter((id) => !stored.has(id))).toEqual([]);
    await broker.close();
  });

  it('after SIGKILL of a consumer, its unacked deliveries come back and its committed acks do not', async () => {
    const seed = embeddedBroker({ dir: tmp.dir });
    const ids = range(400, 'c'); // c<i> has sequence i + 1
    await publishAll(seed, 'crash', ids.map((id) => msg(id)));
    await seed.close();
    // The child acks even sequences only and holds odd ones; it is killed with deliveries in flight.
    const acked = await runAndKill('consume', tmp.dir, 30);
    const broker = embeddedBroker({ dir: tmp.dir });
    const redelivered = new Set<string>();
    await broker.subscribe('crash', { group: 'g', prefetch: 64 }, async (d) => {
      redelivered.add(d.message.id);
      await d.ack();
    });
    const neverAcked = ids.filter((_, i) => (i + 1) % 2 === 1);
    await until(() => neverAcked.every((id) => redelivered.has(id)), 'all unacked redelivered');
    await drained(broker, 'crash', 'g');
    // Acks the child saw committed (it printed them after `ack()` resolved) are not redelivered.
    expect(acked.filter((id) => redelivered.has(id))).toEqual([]);
    await broker.close();
  });
});
