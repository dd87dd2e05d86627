import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { embeddedBroker, type EmbeddedBroker, type EmbeddedBrokerOptions } from '../../../src/async/embedded/index.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { drained, msg, publishAll, range, record, settle, tempDir, until } from './helpers.js';

describe('embedded broker: replay, retention and lag', () => {
  let tmp: ReturnType<typeof tempDir>;
  let clock: FakeClock;
  let broker: EmbeddedBroker;
  const open = (options: Partial<EmbeddedBrokerOptions> = {}): EmbeddedBroker => (broker = embeddedBroker({ dir: tmp.dir, clock, ...options }));

  beforeEach(() => {
    tmp = tempDir();
    clock = new FakeClock();
  });
  afterEach(async () => {
    await broker.close();
    tmp.remove();
  });

  describe('start positions', () => {
    it('earliest: a new group reads messages published before it existed', async () => {
      open();
      await publishAll(broker, 't', range(5).map((id) => msg(id)));
      const r = await record(broker, 't', { group: 'g', start: { from: 'earliest' } });
      await until(() => r.ids.length === 5);
      expect(r.ids).toEqual(range(5));
    });

    it('sequence: a new group starts at the given sequence', async () => {
      open();
      await publishAll(broker, 't', range(10).map((id) => msg(id)));
      const r = await record(broker, 't', { group: 'g', start: { from: 'sequence', sequence: 7n } });
      await until(() => r.ids.length === 4);
      expect(r.ids).toEqual(['m6', 'm7', 'm8', 'm9']);
    });

    it('time: a new group starts at the first message published at or after the time', async () => {
      open();
      await publishAll(broker, 't', ['a', 'b'].map((id) => msg(id)));
      await clock.advance(1_000);
      const t = clock.now();
      await publishAll(broker, 't', ['c', 'd'].map((id) => msg(id)));
      await clock.advance(1_000);
      await broker.publish('t', msg('e'));
      const r = await record(broker, 't', { group: 'g', start: { from: 'time', time: t } });
      await until(() => r.ids.length === 3);
      expect(r.ids).toEqual(['c', 'd', 'e']);
    });

    it('the start position is ignored when the group already exists', async () => {
      open();
      const first = await record(broker, 't', { group: 'g' });
      await publishAll(broker, 't', range(3).map((id) => msg(id)));
      await until(() => first.ids.length === 3);
      await first.subscription.close();
      const again = await record(broker, 't', { group: 'g', start: { from: 'earliest' } });
      await broker.publish('t', msg('new'));
      await until(() => again.ids.length === 1);
      await settle(10);
      expect(again.ids).toEqual(['new']);
    });
  });

  describe('seek', () => {
    it('rewinds a group to replay acked messages (stream retention)', async () => {
      open({ retention: { deleteAcked: false } });
      const r = await record(broker, 't', { group: 'g' });
      await publishAll(broker, 't', range(6).map((id) => msg(id)));
      await until(() => r.ids.length === 6);
      await broker.applyRetention();
      await broker.seek('t', 'g', { from: 'sequence', sequence: 3 });
      await until(() => r.ids.length === 10);
      expect(r.ids.slice(6)).toEqual(['m2', 'm3', 'm4', 'm5']);
      await broker.seek('t', 'g', { from: 'earliest' });
      await until(() => r.ids.length === 16);
      expect(r.ids.slice(10)).toEqual(range(6));
    });

    it('moves a group forward past messages it has not consumed, and by time', async () => {
      open();
      await publishAll(broker, 't', range(4).map((id) => msg(id)));
      await clock.advance(500);
      const t = clock.now();
      await publishAll(broker, 't', ['x', 'y'].map((id) => msg(id)));
      await broker.seek('t', 'g', { from: 'earliest' }); // creates the group
      expect((await broker.lag('t', 'g')).pending).toBe(6);
      await broker.seek('t', 'g', { from: 'time', time: t });
      expect((await broker.lag('t', 'g')).pending).toBe(2);
      const r = await record(broker, 't', { group: 'g' });
      await until(() => r.ids.length === 2);
      expect(r.ids).toEqual(['x', 'y']);
    });

    it('makes deliveries in flight at the time of the seek stale', async () => {
      open({ retention: { deleteAcked: false } });
      const r = await record(broker, 't', { group: 'g', prefetch: 1 }, 'hold');
      await publishAll(broker, 't', range(3).map((id) => msg(id)));
      await until(() => r.deliveries.length === 1);
      await broker.seek('t', 'g', { from: 'sequence', sequence: 3 });
      await until(() => r.deliveries.length === 2);
      expect(r.deliveries[1]!.message.id).toBe('m2');
      await r.deliveries[0]!.ack(); // stale: no effect
      expect(await broker.lag('t', 'g')).toMatchObject({ pending: 0, inFlight: 1 });
    });

    it('keeps the new position across reopen', async () => {
      open({ retention: { deleteAcked: false } });
      await publishAll(broker, 't', range(5).map((id) => msg(id)));
      await broker.seek('t', 'g', { from: 'sequence', sequence: 4 });
      await broker.close();
      open({ retention: { deleteAcked: false } });
      const r = await record(broker, 't', { group: 'g' });
      await until(() => r.ids.length === 2);
      expect(r.ids).toEqual(['m3', 'm4']);
    });
  });

  describe('retention', () => {
    it('by default deletes messages once every group acked them, and keeps them while one has not', async () => {
      open({ tuning: { maxRowMessages: 4 } });
      const a = await record(broker, 't', { group: 'A' });
      const b = await record(broker, 't', { group: 'B' }, 'hold');
      await publishAll(broker, 't', range(8).map((id) => msg(id)));
      await until(() => a.ids.length === 8 && b.ids.length === 8);
      await broker.applyRetention();
      expect(broker.stats().retentionDeleted).toBe(0);
      await Promise.all(b.deliveries.slice(0, 5).map((d) => d.ack()));
      await broker.applyRetention();
      expect(broker.stats().retentionDeleted).toBe(4); // the first row (m0–m3); m4 shares a row with the unacked m5
      await Promise.all(b.deliveries.slice(5).map((d) => d.ack()));
      await broker.applyRetention();
      expect(broker.stats().retentionDeleted).toBe(8);
      const late = await record(broker, 't', { group: 'late', start: { from: 'earliest' } });
      await settle(10);
      expect(late.ids).toEqual([]);
    });

    it('keeps messages of a topic that has no group yet', async () => {
      open();
      await publishAll(broker, 't', range(3).map((id) => msg(id)));
      await broker.applyRetention();
      expect(broker.stats().retentionDeleted).toBe(0);
    });

    it('keeps sequences increasing after everything was deleted and the broker reopened', async () => {
      open();
      const r = await record(broker, 't', { group: 'g' });
      await publishAll(broker, 't', range(3).map((id) => msg(id)));
      await until(() => r.ids.length === 3);
      await drained(broker, 't', 'g');
      await broker.applyRetention();
      expect(broker.stats().retentionDeleted).toBe(3);
      await broker.close();
      open();
      expect((await broker.publish('t', msg('next'))).sequence).toBe(4);
    });

    it('maxAgeMs deletes old messages, consumed or not; a lagging group skips them', async () => {
      open({ retention: { deleteAcked: false, maxAgeMs: 60_000 } });
      await broker.seek('t', 'g', { from: 'earliest' });
      await publishAll(broker, 't', range(3).map((id) => msg(id)));
      await clock.advance(30_000);
      await publishAll(broker, 't', ['young'].map((id) => msg(id)));
      await clock.advance(30_001);
      await broker.applyRetention();
      expect(broker.stats().retentionDeleted).toBe(3);
      expect((await broker.lag('t', 'g')).pending).toBe(1);
      const r = await record(broker, 't', { group: 'g' });
      await until(() => r.ids.length === 1);
      expect(r.ids).toEqual(['young']);
    });

    it('maxBytes keeps the newest rows within the limit', async () => {
      open({ retention: { deleteAcked: false, maxBytes: 3_000 }, tuning: { maxRowMessages: 1 } });
      for (const id of range(10)) await broker.publish('t', { id, headers: {}, body: new Uint8Array(1_000) });
      await broker.applyRetention();
      expect(broker.stats().retentionDeleted).toBe(8);
      const r = await record(broker, 't', { group: 'g', start: { from: 'earliest' } });
      await until(() => r.ids.length === 2);
      expect(r.ids).toEqual(['m8', 'm9']);
    });

    it('takes a policy per topic', async () => {
      open({ retention: (topic) => (topic.endsWith('.dlq') ? { deleteAcked: false } : {}) });
      for (const topic of ['t', 't.dlq']) {
        const r = await record(broker, topic, { group: 'g' });
        await broker.publish(topic, msg('a'));
        await until(() => r.ids.length === 1);
        await drained(broker, topic, 'g');
      }
      await broker.applyRetention();
      expect(broker.stats().retentionDeleted).toBe(1);
    });
  });

  describe('lag', () => {
    it('counts pending and in-flight messages and the age of the oldest unacked one', async () => {
      open();
      await broker.seek('t', 'g', { from: 'earliest' });
      await publishAll(broker, 't', range(5).map((id) => msg(id)));
      await clock.advance(2_000);
      expect(await broker.lag('t', 'g')).toEqual({ pending: 5, inFlight: 0, oldestAgeMs: 2_000 });
      const r = await record(broker, 't', { group: 'g', prefetch: 2 }, 'hold');
      await until(() => r.deliveries.length === 2);
      expect(await broker.lag('t', 'g')).toEqual({ pending: 3, inFlight: 2, oldestAgeMs: 2_000 });
      await Promise.all(r.deliveries.map((d) => d.ack()));
      await until(() => r.deliveries.length === 4);
      for (const d of r.deliveries.slice(2)) await d.ack();
      await until(() => r.deliveries.length === 5);
      await r.deliveries[4]!.ack();
      expect(await broker.lag('t', 'g')).toEqual({ pending: 0, inFlight: 0, oldestAgeMs: undefined });
    });

    it('is zero for a group that does not exist', async () => {
      open();
      await broker.publish('t', msg('a'));
      expect(await broker.lag('t', 'nobody')).toEqual({ pending: 0, inFlight: 0, oldestAgeMs: undefined });
    });
  });
});
