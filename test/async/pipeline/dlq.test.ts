import { afterEach, describe, expect, it } from 'vitest';
import type { Broker, ReceivedMessage } from '../../../src/async/broker.js';
import {
  DLQ_HEADERS,
  DeadLetterFormatError,
  MAX_ERROR_MESSAGE,
  deadLetterMessage,
  isDeadLetter,
  readDeadLetter,
  replayDeadLetter,
} from '../../../src/async/dlq.js';
import { consumeEvent, publishEvent } from '../../../src/async/pipeline/index.js';
import type { FakeClock } from '../../../src/testing/fake-clock.js';
import { OrderPlaced, TOPIC, dlqReader, drain, fakeBroker, rawEvent } from './helpers.js';

let clock: FakeClock;
let broker: Broker;
afterEach(async () => broker?.close());

function received(overrides: Partial<ReceivedMessage> = {}): ReceivedMessage {
  const raw = rawEvent('{"orderId":"x","totalCents":1}', OrderPlaced.type, { key: 'k' });
  return { ...raw, topic: TOPIC, attempt: 3, sequence: 42, publishedAt: 1_700_000_000_000, ...overrides };
}

const failure = { reason: 'max-attempts', attempts: 3, firstFailureAt: 1_700_000_001_000, lastFailureAt: 1_700_000_002_000, group: 'g' } as const;

describe('dead-letter records', () => {
  it('read back exactly what was written', () => {
    const original = received();
    const letter = deadLetterMessage(original, { ...failure, error: new TypeError('bad thing') });
    expect(isDeadLetter(letter)).toBe(true);
    expect(isDeadLetter(original)).toBe(false);
    const record = readDeadLetter(letter);
    expect(record).toMatchObject({
      reason: 'max-attempts',
      errorClass: 'TypeError',
      errorCode: undefined,
      errorMessage: 'bad thing',
      attempts: 3,
      firstFailureAt: failure.firstFailureAt,
      lastFailureAt: failure.lastFailureAt,
      topic: TOPIC,
      group: 'g',
      originalId: original.id,
      key: 'k',
      sequence: '42',
      publishedAt: 1_700_000_000_000,
      headers: original.headers,
    });
    expect(record.envelope?.type).toBe(OrderPlaced.type);
    expect(letter.headers[DLQ_HEADERS.firstFailureAt]).toBe('2023-11-14T22:13:21.000Z');
  });

  it('make any error message safe for broker headers: no control characters, bounded length', () => {
    const long = `line one\r\nline two\u0000${'x'.repeat(5_000)}`;
    const letter = deadLetterMessage(received(), { ...failure, error: new Error(long) });
    const message = readDeadLetter(letter).errorMessage;
    expect(message.startsWith('line one  line two x')).toBe(true);
    expect(message.length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE);
    expect([...message].some((c) => c.charCodeAt(0) < 0x20)).toBe(false);
    expect(readDeadLetter(deadLetterMessage(received(), { ...failure, error: 'a string' }))).toMatchObject({ errorClass: 'NonError', errorMessage: 'a string' });
  });

  it('replace the DLQ headers of a message dead-lettered twice', () => {
    const first = deadLetterMessage(received(), { ...failure, error: new Error('first') });
    const second = deadLetterMessage(received({ headers: first.headers }), { ...failure, reason: 'poison', error: new Error('second') });
    expect(readDeadLetter(second)).toMatchObject({ reason: 'poison', errorMessage: 'second' });
  });

  it('reject what is not a record with DeadLetterFormatError naming the header', () => {
    expect(() => readDeadLetter(received())).toThrow(DeadLetterFormatError);
    const letter = deadLetterMessage(received(), { ...failure, error: new Error('x') });
    expect(() => readDeadLetter({ ...letter, headers: { ...letter.headers, [DLQ_HEADERS.reason]: 'bored' } })).toThrow(/courier-dlq-reason/);
    expect(() => readDeadLetter({ ...letter, headers: { ...letter.headers, [DLQ_HEADERS.attempts]: '-1' } })).toThrow(/courier-dlq-attempts/);
    expect(() => readDeadLetter({ ...letter, headers: { ...letter.headers, [DLQ_HEADERS.lastFailureAt]: 'yesterday' } })).toThrow(/courier-dlq-last-failure-at/);
  });
});

describe('replayDeadLetter', () => {
  it('sends the original back to its topic under a fresh id; once the cause is fixed it is handled', async () => {
    ({ clock, broker } = fakeBroker());
    const dlq = await dlqReader(broker);
    let broken = true;
    const handled: Array<{ orderId: string; messageId: string; ceId: string }> = [];
    await consumeEvent(broker, OrderPlaced, {
      group: 'g',
      clock,
      maxAttempts: 1,
      handler: async (p, _ctx, consumed) => {
        if (broken) throw new Error('bug');
        handled.push({ orderId: p.orderId, messageId: consumed.message.id, ceId: consumed.envelope.id });
      },
    });
    const receipt = await publishEvent(broker, OrderPlaced, { orderId: 'o-9', totalCents: 9 }, { key: 'o-9' });
    await drain();
    expect(dlq.raw).toHaveLength(1);
    broken = false;
    const replay = await replayDeadLetter(broker, dlq.raw[0]!);
    await drain();
    expect(replay.id).not.toBe(receipt.id); // a fresh broker id: dedup must not drop the replay
    expect(handled).toEqual([{ orderId: 'o-9', messageId: replay.id, ceId: receipt.id }]);
  });
});
