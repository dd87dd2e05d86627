/**
 * The connection-loss scenario every adapter must survive: publish `count` messages while a consumer group
 * acks them, cut every connection (through `TcpProxy`) at a few points mid-run, and check that every message
 * whose publish resolved was delivered and acked ("0 acked lost"). Duplicates are allowed (at-least-once);
 * a publish that rejects during an outage is retried, as a producer would.
 */
import type { Broker } from '../../../src/async/broker.js';
import type { TcpProxy } from './tcp-proxy.js';
import { bytes, sleep, until } from './wait.js';

export interface ReconnectOptions {
  readonly broker: Broker;
  readonly proxy: TcpProxy;
  readonly topic: string;
  readonly group: string;
  readonly count: number;
  /** Cut when this many messages are acked (and once in the middle of publishing). */
  readonly cutAtAcked: readonly number[];
  readonly leaseMs?: number;
  readonly capMs?: number;
  /** Start position of the group (brokers without replay need `latest`). Default `earliest`. */
  readonly startFrom?: 'earliest' | 'latest';
}

export interface ReconnectResult {
  readonly published: number;
  readonly acked: number;
  readonly deliveries: number;
  readonly lost: string[];
  readonly cuts: number;
  readonly publishRetries: number;
}

export async function reconnectRun(o: ReconnectOptions): Promise<ReconnectResult> {
  const acked = new Set<string>();
  let deliveries = 0;
  const cutPoints = [...o.cutAtAcked].sort((a, b) => a - b);
  const subscription = await o.broker.subscribe(o.topic, { group: o.group, prefetch: 64, leaseMs: o.leaseMs ?? 3000, start: { from: o.startFrom ?? 'earliest' } }, async (d) => {
    deliveries++;
    try {
      await d.ack();
      acked.add(d.message.id);
    } catch {
      // The ack did not reach the broker: the message comes back, and is acked then.
    }
    if (cutPoints.length > 0 && acked.size >= cutPoints[0]!) {
      cutPoints.shift();
      o.proxy.cut();
    }
  });
  const published = new Set<string>();
  let publishRetries = 0;
  const publishOne = async (id: string): Promise<void> => {
    for (;;) {
      try {
        await o.broker.publish(o.topic, { id, headers: { 'ce-type': 'test.reconnect' }, body: bytes(id) });
        published.add(id);
        return;
      } catch {
        publishRetries++;
        await sleep(50);
      }
    }
  };
  const window = 500;
  for (let start = 0; start < o.count; start += window) {
    if (start === Math.floor(o.count / window / 2) * window) o.proxy.cut();
    const ids = Array.from({ length: Math.min(window, o.count - start) }, (_, i) => `m${start + i}`);
    await Promise.all(ids.map(publishOne));
  }
  await until(() => [...published].every((id) => acked.has(id)), `all ${published.size} published messages acked`, o.capMs ?? 60_000).catch(() => undefined);
  await subscription.close();
  const lost = [...published].filter((id) => !acked.has(id));
  return { published: published.size, acked: acked.size, deliveries, lost, cuts: o.proxy.cuts, publishRetries };
}
