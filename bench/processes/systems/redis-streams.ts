/**
 * Redis Streams in the broker benchmark (ioredis): XADD with automatic pipelining on the producer;
 * XREADGROUP (COUNT = prefetch, BLOCK) and one XACK per batch on the consumer. Redis runs with the
 * append-only file (`appendfsync everysec`, see scripts/lib/brokers/redis.sh): an acknowledged XADD
 * survives a Redis crash, comparable to Courier's `process` level.
 */
import { Redis } from 'ioredis';
import { sentAt } from '../wire.js';
import type { ConsumerSide, ProducerSide } from './system.js';

export async function redisProducer(port: number): Promise<ProducerSide> {
  const redis = new Redis({ host: '127.0.0.1', port, enableAutoPipelining: true, lazyConnect: true });
  await redis.connect();
  return {
    publish: (topic, body) => redis.xadd(topic, '*', 'd', body),
    close: async () => {
      await redis.quit();
    },
  };
}

export async function redisConsumer(port: number): Promise<ConsumerSide> {
  const admin = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
  await admin.connect();
  return {
    consume: async (topic, prefetch, onMessage) => {
      await admin.xgroup('CREATE', topic, 'bench', '$', 'MKSTREAM');
      const reader = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
      await reader.connect();
      let running = true;
      const loop = (async () => {
        while (running) {
          const reply = (await reader.callBuffer('XREADGROUP', 'GROUP', 'bench', 'c1', 'COUNT', prefetch, 'BLOCK', 200, 'STREAMS', topic, '>')) as
            | Array<[Buffer, Array<[Buffer, Buffer[]]>]>
            | null;
          if (reply === null) continue;
          const ids: Buffer[] = [];
          for (const [, entries] of reply) {
            for (const [id, fields] of entries) {
              ids.push(id);
              onMessage(sentAt(fields[1]!));
            }
          }
          if (ids.length > 0) void reader.xack(topic, 'bench', ...ids);
        }
      })();
      return {
        stop: async () => {
          running = false;
          await loop;
          await reader.quit();
          await admin.del(topic);
        },
      };
    },
    close: async () => {
      await admin.quit();
    },
  };
}
