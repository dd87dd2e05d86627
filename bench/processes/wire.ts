/**
 * What the broker benchmark's suite and its child processes say to each other: JSON lines on stdin
 * (commands, each with an `id`) and stdout (one reply per command, with the same `id`).
 */
export type SystemSpec =
  | {
      readonly kind: 'courier';
      readonly durability: 'process' | 'power';
      readonly socketPath: string;
      /** The producer process owns the embedded broker in `dir` and serves it on `socketPath`. */
      readonly ownerDir?: string;
    }
  | { readonly kind: 'redis-streams'; readonly port: number }
  | { readonly kind: 'rabbitmq'; readonly url: string }
  | { readonly kind: 'bullmq'; readonly port: number };

export type Command =
  | { readonly op: 'open'; readonly key: string; readonly spec: SystemSpec; readonly role: 'producer' | 'consumer' }
  | { readonly op: 'consume'; readonly key: string; readonly topic: string; readonly n: number; readonly prefetch: number }
  | { readonly op: 'awaitConsumed'; readonly topic: string; readonly timeoutMs: number }
  | { readonly op: 'stopConsume'; readonly topic: string }
  | { readonly op: 'produce'; readonly key: string; readonly topic: string; readonly n: number; readonly window: number }
  | { readonly op: 'pace'; readonly key: string; readonly topic: string; readonly n: number; readonly rate: number }
  | { readonly op: 'close'; readonly key: string }
  | { readonly op: 'rss' }
  /** This process's CPU time so far (user + system), µs: for per-message CPU cost. */
  | { readonly op: 'cpu' }
  | { readonly op: 'exit' }
  /** Broker owner only (`broker-owner.ts`). */
  | { readonly op: 'seek'; readonly topic: string; readonly group: string }
  | { readonly op: 'stats' };

export interface ProduceReply {
  readonly startAt: number;
  readonly endAt: number;
}

export interface ConsumedReply {
  readonly count: number;
  readonly firstAt: number;
  readonly lastAt: number;
  /** Delivery latency (receipt − publish call), ms, over the messages after the first 10%. */
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable between processes on one machine. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export const BODY_BYTES = 256;
const template = Buffer.alloc(BODY_BYTES, 0x61);

/** A fresh 256-byte body carrying its send time in its first 8 bytes. */
export function stampedBody(): Buffer {
  return restamp(Buffer.from(template));
}

/**
 * Write the send time into a body made by `stampedBody`, for reuse by a producer that publishes one
 * message at a time: every system's client has read (copied, encoded, sent) the body by the time its
 * publish settled, so the next message may go in the same buffer.
 */
export function restamp(body: Buffer): Buffer {
  body.writeDoubleLE(nowMs(), 0);
  return body;
}

export function sentAt(body: Uint8Array): number {
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength).readDoubleLE(0);
}
