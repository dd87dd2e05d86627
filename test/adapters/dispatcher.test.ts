/**
 * The adapter kit's dispatcher on a FakeClock, without a broker: lease expiry (one timer for all leases,
 * ordered by deadline), extend, settle-once, prefetch with a backlog, close.
 */
import { describe, expect, it } from 'vitest';
import type { Delivery, ReceivedMessage } from '../../src/async/broker.js';
import { Dispatcher, type Settlement } from '../../src/async/adapter-kit/dispatcher.js';
import { FakeClock } from '../../src/testing/fake-clock.js';

function message(id: string): ReceivedMessage {
  return { id, topic: 't', key: undefined, headers: {}, body: new Uint8Array(0), attempt: 1, sequence: undefined, publishedAt: undefined };
}

function setup(prefetch = 10, leaseMs = 1000) {
  const clock = new FakeClock();
  const log: string[] = [];
  const deliveries = new Map<string, Delivery>();
  const settlement: Settlement<string> = {
    ack: async (raw) => void log.push(`ack ${raw}`),
    nack: async (raw, delayMs) => void log.push(`nack ${raw} ${delayMs}`),
    extend: async (raw, ms) => void log.push(`extend ${raw} ${ms}`),
    expire: async (raw) => void log.push(`expire ${raw} @${clock.now() - start}`),
    release: async (raw) => void log.push(`release ${raw}`),
  };
  const start = clock.now();
  const dispatcher = new Dispatcher<string>({
    prefetch,
    leaseMs,
    clock,
    settlement,
    handler: async (d) => void deliveries.set(d.message.id, d),
  });
  const send = (id: string) => dispatcher.dispatch(message(id), id);
  return { clock, log, deliveries, dispatcher, send };
}

describe('dispatcher', () => {
  it('expires each unsettled delivery when its own lease runs out, never a settled one', async () => {
    const { clock, log, deliveries, dispatcher, send } = setup();
    send('a');
    await clock.advance(300);
    send('b');
    send('c');
    await deliveries.get('b')!.ack();
    await clock.advance(699);
    expect(log).toEqual(['ack b']);
    await clock.advance(1);
    expect(log).toEqual(['ack b', 'expire a @1000']);
    await clock.advance(300);
    expect(log).toEqual(['ack b', 'expire a @1000', 'expire c @1300']);
    expect(dispatcher.unsettled).toBe(0);
    // Settling after the lease ran out is a no-op.
    await deliveries.get('a')!.ack();
    expect(log).toHaveLength(3);
    expect(clock.pending).toBe(0);
  });

  it('extend moves a lease later or earlier, and a delivery expires at its new deadline', async () => {
    const { clock, log, deliveries, send } = setup();
    send('a');
    send('b');
    send('c');
    await deliveries.get('a')!.extend(5000);
    await deliveries.get('c')!.extend(200);
    await clock.advance(200);
    expect(log).toEqual(['extend a 5000', 'extend c 200', 'expire c @200']);
    await clock.advance(800);
    expect(log.slice(3)).toEqual(['expire b @1000']);
    await clock.advance(3999);
    expect(log).toHaveLength(4);
    await clock.advance(1);
    expect(log.slice(4)).toEqual(['expire a @5000']);
  });

  it('settles once, keeps at most prefetch deliveries out, and releases the rest on close', async () => {
    const { clock, log, deliveries, dispatcher, send } = setup(2);
    for (const id of ['a', 'b', 'c', 'd']) send(id);
    expect(dispatcher.unsettled).toBe(2);
    expect([...deliveries.keys()]).toEqual(['a', 'b']);
    await deliveries.get('a')!.ack();
    await deliveries.get('a')!.nack();
    await clock.advance(0);
    expect([...deliveries.keys()]).toEqual(['a', 'b', 'c']);
    await dispatcher.close();
    expect(log.sort()).toEqual(['ack a', 'release b', 'release c', 'release d']);
    expect(clock.pending).toBe(0);
  });

  it('many deliveries acked at once leave no timer per delivery behind', async () => {
    const { clock, deliveries, dispatcher, send } = setup(1000);
    for (let i = 0; i < 1000; i++) send(`m${i}`);
    expect(clock.pending).toBe(1);
    for (const d of deliveries.values()) await d.ack();
    expect(dispatcher.unsettled).toBe(0);
    expect(clock.pending).toBeLessThanOrEqual(1);
    await clock.runAll();
    expect(clock.pending).toBe(0);
  });
});
