/**
 * Courier's embedded broker in the benchmark. Topology (the one the embedded broker is designed for): the
 * producer's process owns the broker (SQLite file, group commit) and serves it on a Unix socket; the
 * consumer process reaches it with `remoteBroker`. With `ownerDir` unset, the producer is a remote client
 * too, of a separate owner process (`../broker-owner.ts`).
 */
import { writeFileSync } from 'node:fs';
import { embeddedBroker } from '../../../src/async/embedded/index.js';
import type { Broker } from '../../../src/async/broker.js';
import { remoteBroker, serveBroker, type BrokerServer } from '../../../src/async/remote/index.js';
import { newId } from '../../../src/core/ids.js';
import { sentAt, type SystemSpec } from '../wire.js';
import type { ConsumerSide, ProducerSide } from './system.js';

type CourierSpec = Extract<SystemSpec, { kind: 'courier' }>;

export async function courierProducer(spec: CourierSpec): Promise<ProducerSide> {
  let broker: Broker;
  let server: BrokerServer | undefined;
  if (spec.ownerDir !== undefined) {
    broker = embeddedBroker({ dir: spec.ownerDir, durability: spec.durability });
    server = await serveBroker(broker, { socketPath: spec.socketPath });
  } else {
    broker = await remoteBroker({ socketPath: spec.socketPath });
  }
  return {
    publish: (topic, body) => broker.publish(topic, { id: newId(), headers: {}, body }),
    close: async () => {
      // COURIER_BENCH_STATS=<file>: write the owning broker's counters there (batch sizes, pages read back).
      const statsFile = process.env['COURIER_BENCH_STATS'];
      if (statsFile !== undefined && 'stats' in broker) writeFileSync(statsFile, JSON.stringify((broker as { stats(): unknown }).stats()));
      await server?.close();
      await broker.close();
    },
  };
}

export async function courierConsumer(spec: CourierSpec): Promise<ConsumerSide> {
  const broker = await remoteBroker({ socketPath: spec.socketPath });
  return {
    consume: async (topic, prefetch, onMessage) => {
      const sub = await broker.subscribe(topic, { group: 'bench', prefetch, start: { from: 'earliest' } }, (d) => {
        onMessage(sentAt(d.message.body));
        return d.ack();
      });
      return { stop: () => sub.close() };
    },
    close: () => broker.close(),
  };
}
