import { randomBytes } from 'node:crypto';
import type { Broker, Delivery, OutgoingMessage } from '../../async/broker.js';

/** Helpers the conformance cases share. Real time: cases run against real brokers, so they poll with a bound. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A name no other case (or earlier run against the same broker) uses. */
export function unique(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export function message(n: number, extra: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return {
    id: `${n}-${randomBytes(6).toString('hex')}`,
    headers: { 'ce-n': String(n) },
    body: new TextEncoder().encode(JSON.stringify({ n })),
    ...extra,
  };
}

export function numberOf(delivery: Delivery): number {
  return Number(delivery.message.headers['ce-n']);
}

export async function publishAll(
  broker: Broker,
  topic: string,
  messages: readonly OutgoingMessage[],
): Promise<void> {
  await Promise.all(messages.map((m) => broker.publish(topic, m)));
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
