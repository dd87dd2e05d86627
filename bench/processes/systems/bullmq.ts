/**
 * BullMQ in the broker benchmark: `Queue.add` per message (jobs removed on completion) and a `Worker`
 * with a concurrency equal to the prefetch. BullMQ job data is JSON, so the body travels base64-encoded
 * with its send time beside it.
 */
import { Queue, Worker } from 'bullmq';
import type { ConsumerSide, ProducerSide } from './system.js';
import { sentAt } from '../wire.js';

interface JobData {
  readonly t: number;
  readonly b: string;
}

export async function bullProducer(port: number): Promise<ProducerSide> {
  const queues = new Map<string, Queue<JobData>>();
  const connection = { host: '127.0.0.1', port };
  return {
    publish: async (name, body) => {
      let queue = queues.get(name);
      if (queue === undefined) {
        queue = new Queue<JobData>(name, { connection, defaultJobOptions: { removeOnComplete: true, removeOnFail: true } });
        queues.set(name, queue);
      }
      await queue.add('m', { t: sentAt(body), b: body.toString('base64') });
    },
    close: async () => {
      await Promise.all([...queues.values()].map((q) => q.close()));
    },
  };
}

export async function bullConsumer(port: number): Promise<ConsumerSide> {
  const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
  return {
    consume: async (name, prefetch, onMessage) => {
      const worker = new Worker<JobData>(
        name,
        async (job) => {
          onMessage(job.data.t);
        },
        { connection, concurrency: prefetch, removeOnComplete: { count: 0 } },
      );
      await worker.waitUntilReady();
      return {
        stop: async () => {
          await worker.close();
          const queue = new Queue(name, { connection });
          await queue.obliterate({ force: true });
          await queue.close();
        },
      };
    },
    close: async () => undefined,
  };
}
