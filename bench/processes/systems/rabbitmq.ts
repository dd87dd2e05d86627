/**
 * RabbitMQ in the broker benchmark (amqplib): a durable classic queue, persistent messages published on a
 * confirm channel (a publish counts once its confirm arrived, which RabbitMQ sends after the message is on
 * disk), manual acks with a prefetch on the consumer. Comparable to Courier's `power` level.
 */
import amqp from 'amqplib';
import type { ConsumerSide, ProducerSide } from './system.js';
import { sentAt } from '../wire.js';

export async function rabbitProducer(url: string): Promise<ProducerSide> {
  const connection = await amqp.connect(url);
  const channel = await connection.createConfirmChannel();
  const declared = new Set<string>();
  let drained: Promise<void> | undefined;
  return {
    publish: async (queue, body) => {
      if (!declared.has(queue)) {
        await channel.assertQueue(queue, { durable: true });
        declared.add(queue);
      }
      if (drained !== undefined) await drained;
      await new Promise<void>((resolve, reject) => {
        const ok = channel.sendToQueue(queue, body, { persistent: true }, (error) => (error ? reject(error as Error) : resolve()));
        if (!ok && drained === undefined) {
          drained = new Promise<void>((r) =>
            channel.once('drain', () => {
              drained = undefined;
              r();
            }),
          );
        }
      });
    },
    close: async () => {
      await channel.close();
      await connection.close();
    },
  };
}

export async function rabbitConsumer(url: string): Promise<ConsumerSide> {
  const connection = await amqp.connect(url);
  return {
    consume: async (queue, prefetch, onMessage) => {
      const channel = await connection.createChannel();
      await channel.assertQueue(queue, { durable: true });
      await channel.prefetch(prefetch);
      const { consumerTag } = await channel.consume(
        queue,
        (message) => {
          if (message === null) return;
          onMessage(sentAt(message.content));
          channel.ack(message);
        },
        { noAck: false },
      );
      return {
        stop: async () => {
          await channel.cancel(consumerTag);
          await channel.deleteQueue(queue);
          await channel.close();
        },
      };
    },
    close: async () => {
      await connection.close();
    },
  };
}
