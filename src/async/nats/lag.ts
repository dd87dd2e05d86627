/**
 * `Broker.lag` for JetStream, from the durable consumer's info:
 * - pending = `num_pending` (stream messages the consumer has not delivered yet);
 * - inFlight = `num_ack_pending` (delivered, not acked; includes nak'd messages waiting for their delay);
 * - oldestAgeMs = age of the message after the consumer's ack floor (the oldest unacked one), from the
 *   stream's timestamp.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { Lag } from '../broker.js';

export async function natsLag(jsm: JetStreamManager, stream: string, consumer: string, now: number): Promise<Lag> {
  let info;
  try {
    info = await jsm.consumers.info(stream, consumer);
  } catch (error) {
    if (isNotFound(error)) return { pending: 0, inFlight: 0, oldestAgeMs: undefined };
    throw error;
  }
  const pending = info.num_pending;
  const inFlight = info.num_ack_pending;
  let oldestAgeMs: number | undefined;
  if (pending + inFlight > 0) {
    const stored = await jsm.streams.getMessage(stream, { seq: info.ack_floor.stream_seq + 1 }).catch(() => null);
    if (stored !== null) oldestAgeMs = Math.max(0, now - stored.time.getTime());
  }
  return { pending, inFlight, oldestAgeMs };
}

export function isNotFound(error: unknown): boolean {
  const api = (error as { api_error?: { err_code?: number; code?: number } }).api_error;
  if (api?.code === 404) return true;
  return error instanceof Error && /not found/i.test(error.message);
}
