/**
 * `Broker.lag` for RabbitMQ. AMQP 0-9-1 reports only a queue's ready messages (`queue.declare` passive), so:
 * - pending = ready messages in the group queue + in the group's retry queues this process has used;
 * - inFlight = deliveries unsettled in this process's subscriptions of the group (other processes' unacked
 *   deliveries are visible only through the management HTTP API, which this adapter does not use);
 * - oldestAgeMs is unknown (AMQP cannot peek at a queue's head without taking it).
 */
import type { ChannelModel } from 'amqplib';
import type { Lag } from '../broker.js';

export async function amqpLag(model: ChannelModel, queues: readonly string[], localInFlight: number): Promise<Lag> {
  let pending = 0;
  for (const queue of queues) pending += await readyCount(model, queue);
  return { pending, inFlight: localInFlight, oldestAgeMs: undefined };
}

/** Ready messages in `queue`; 0 if it does not exist. A fresh channel each time: a 404 closes the channel. */
async function readyCount(model: ChannelModel, queue: string): Promise<number> {
  const ch = await model.createChannel();
  ch.on('error', () => undefined);
  try {
    const ok = await ch.checkQueue(queue);
    return ok.messageCount;
  } catch (error) {
    if ((error as { code?: unknown }).code === 404) return 0;
    throw error;
  } finally {
    await ch.close().catch(() => undefined);
  }
}
