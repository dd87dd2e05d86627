/**
 * Redis stream entry ids (`<ms>-<seq>`) as Courier sequences, and Courier start positions as the id a
 * consumer group's "last delivered" cursor must hold.
 *
 * A sequence is the bigint `(ms << 64) | seq`: lossless (ms < 2^48, seq < 2^64), ordered like the ids, so
 * `seek({ from: 'sequence', sequence })` with a sequence from a `PublishReceipt` or a `ReceivedMessage`
 * addresses exactly that entry.
 */
import type { StartPosition } from '../broker.js';

const SEQ_BITS = 64n;
const SEQ_MASK = (1n << SEQ_BITS) - 1n;
const MAX_SEQ = SEQ_MASK.toString();

export interface StreamId {
  readonly ms: bigint;
  readonly seq: bigint;
}

export function parseStreamId(id: string): StreamId {
  const dash = id.indexOf('-');
  if (dash <= 0) throw new RangeError(`not a stream id: ${id}`);
  return { ms: BigInt(id.slice(0, dash)), seq: BigInt(id.slice(dash + 1)) };
}

export function idToSequence(id: string): bigint {
  const { ms, seq } = parseStreamId(id);
  return (ms << SEQ_BITS) | seq;
}

export function sequenceToId(sequence: number | bigint): string {
  const s = BigInt(sequence);
  if (s < 0n) throw new RangeError(`invalid sequence ${s}`);
  return `${s >> SEQ_BITS}-${s & SEQ_MASK}`;
}

/** Milliseconds part of an entry id: when Redis accepted the entry. */
export function idTime(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

/** The id just before `id` (the group cursor that makes `id` the next entry delivered). */
export function previousId(id: string): string {
  const { ms, seq } = parseStreamId(id);
  if (seq > 0n) return `${ms}-${seq - 1n}`;
  if (ms > 0n) return `${ms - 1n}-${MAX_SEQ}`;
  return '0-0';
}

/** The cursor id for a start position: the group then receives every entry after it. */
export function cursorFor(position: StartPosition): string {
  switch (position.from) {
    case 'latest':
      return '$';
    case 'earliest':
      return '0-0';
    case 'sequence':
      return previousId(sequenceToId(position.sequence));
    case 'time': {
      if (!Number.isFinite(position.time) || position.time < 0) throw new RangeError(`invalid start time ${position.time}`);
      return previousId(`${Math.floor(position.time)}-0`);
    }
    default:
      throw new TypeError(`unknown start position ${JSON.stringify(position)}`);
  }
}
