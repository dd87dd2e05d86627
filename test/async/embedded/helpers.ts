/**
 * Shared helpers for the embedded broker tests: temp directories, message builders, and a consumer that
 * records what it receives and settles by a rule.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Broker, Delivery, OutgoingMessage, SubscribeOptions, Subscription } from '../../../src/async/broker.js';

export function tempDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'courier-embedded-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function msg(id: string, extra: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return { id, headers: { 'ce-type': 'test' }, body: new TextEncoder().encode(`body-${id}`), ...extra };
}

export function text(body: Uint8Array): string {
  return new TextDecoder().decode(body);
}

/** Let real-time work (the writer's setImmediate commits, microtask pumps) run. */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Wait (in real event-loop turns, not clock time) until `condition` holds. */
export async function until(condition: () => boolean, what = 'condition', maxTurns = 20_000): Promise<void> {
  for (let i = 0; i < maxTurns; i++) {
    if (condition()) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export type Settle = 'ack' | 'nack' | 'hold' | ((d: Delivery) => Promise<void> | void);

export interface Recorder {
  readonly deliveries: Delivery[];
  readonly ids: string[];
  readonly subscription: Subscription;
}

/** Subscribe and record every delivery; settle each by `rule` (default ack). */
export async function record(broker: Broker, topic: string, options: SubscribeOptions, rule: Settle = 'ack'): Promise<Recorder> {
  const deliveries: Delivery[] = [];
  const ids: string[] = [];
  const subscription = await broker.subscribe(topic, options, async (d) => {
    deliveries.push(d);
    ids.push(d.message.id);
    if (rule === 'ack') await d.ack();
    else if (rule === 'nack') await d.nack();
    else if (typeof rule === 'function') await rule(d);
  });
  return { deliveries, ids, subscription };
}

export async function publishAll(broker: Broker, topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
  await Promise.all(messages.map((m) => broker.publish(topic, m)));
}

export function range(n: number, prefix = 'm'): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}`);
}

/** Wait until the group has nothing pending or in flight. */
export async function drained(broker: Broker, topic: string, group: string, maxTurns = 20_000): Promise<void> {
  for (let i = 0; i < maxTurns; i++) {
    const lag = await broker.lag(topic, group);
    if (lag.pending === 0 && lag.inFlight === 0) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error(`group ${group} on ${topic} did not drain`);
}
