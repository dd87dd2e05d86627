/**
 * Adapter overhead benchmark: for each broker, Courier's adapter against the raw client doing the same work,
 * in the same run.
 *
 * Issue: "for each broker, Courier's adapter vs the raw client doing the same work (same persistence,
 * confirms and acks), in the same run."
 *
 * Setup, the same for both contenders of a broker: 256-byte messages, publisher and consumer in this
 * process (one connection each, as the adapter has), a fresh topic per run. The consumer is attached first;
 * then `n` messages are published with at most WINDOW (1000) publishes unconfirmed at once, and the run
 * ends when the consumer has acknowledged the `n`-th. End-to-end msg/s = n / (that moment − first publish).
 * A message counts as consumed once its ack is done: for Redis when the XACK replied, for the others when
 * the ack was sent (basic.ack, JetStream +ACK and MQTT PUBACK have no reply). Prefetch PREFETCH (500) on both.
 *
 * | broker   | raw client                                                               | Courier            |
 * |----------|--------------------------------------------------------------------------|--------------------|
 * | Redis    | ioredis: XADD auto-pipelined; XREADGROUP COUNT 500 BLOCK; one XACK per read batch | `courier/redis` |
 * | RabbitMQ | amqplib: confirm channel, persistent, durable topic exchange → durable queue; consumer prefetch 500, manual ack | `courier/amqp` |
 * | NATS     | JetStream: file stream (interest retention), `js.publish` awaiting the PubAck; durable pull consumer, `consume({max_messages: 500})`, explicit ack | `courier/nats` |
 * | MQTT     | mqtt.js 5: QoS 1 publish (TCP_NODELAY); persistent session, shared subscription, QoS 1, Receive Maximum 500 | `courier/mqtt` |
 *
 * Courier publishes `{ id: newId(), headers: {}, body }` (its message id travels with the message: a field,
 * a property, `Nats-Msg-Id` with JetStream's dedup window, an MQTT user property) and consumes with a
 * handler that awaits `ack()`: what a Courier adapter adds over the raw client is what this measures.
 * Contenders alternate within each round (who goes first alternates too); median of the rounds. A broker
 * that is not reachable is reported as missing with the reason. Ratio = Courier / raw (target ≥ 0.9, the issue's).
 */
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect as natsConnect, type NatsConnection } from '@nats-io/transport-node';
import amqp from 'amqplib';
import { Redis, type RedisOptions } from 'ioredis';
import { connect as mqttConnect, type IClientOptions, type MqttClient } from 'mqtt';
import { amqpBroker } from '../../src/async/amqp/index.js';
import type { Broker } from '../../src/async/broker.js';
import { mqttBroker } from '../../src/async/mqtt/index.js';
import { natsBroker, natsName } from '../../src/async/nats/index.js';
import { redisBroker } from '../../src/async/redis/index.js';
import { newId } from '../../src/core/ids.js';
import { ensureAnchors, type AnchorBroker } from '../lib/brokers.js';
import { median } from '../lib/measure.js';
import { rateRatio, type BenchResult, type Suite } from '../lib/suite.js';

const WINDOW = 1000;
const PREFETCH = 500;
const BODY = Buffer.alloc(256, 0x61);
const GROUP = 'g';
/** A run that has not finished by then failed (a broker stalled). */
const RUN_TIMEOUT_MS = 60_000;
/** Clients that retry forever (ioredis, mqtt.js) would otherwise wait for a broker that is not there. */
const CONNECT_TIMEOUT_MS = 10_000;

type Kind = 'redis' | 'amqp' | 'nats' | 'mqtt';

/** One contender on one broker: consume `n` messages of a fresh `topic` while publishing them. */
interface Contender {
  /** Attach a consumer to `topic` that calls `acked()` once per message whose ack is done; returns its stop. */
  consume(topic: string, acked: () => void): Promise<() => Promise<void>>;
  publish(topic: string): Promise<unknown>;
  /** Remove what the run left on the broker (streams, queues). */
  cleanup(topic: string): Promise<void>;
  close(): Promise<void>;
}

interface System {
  readonly kind: Kind;
  readonly label: string;
  readonly anchor: AnchorBroker;
  /** Messages per run (quick, full). */
  readonly count: readonly [number, number];
  raw(url: string): Promise<Contender>;
  courier(url: string): Promise<Contender>;
  url(port: number): string;
}

export const suite: Suite = {
  name: 'adapters',
  description: `Courier's broker adapters vs their raw clients doing the same work: end-to-end msg/s, 256-byte messages, ${WINDOW} publishes in flight, prefetch ${PREFETCH}, durable and acknowledged on both sides`,
  async run({ quick, args }) {
    // `npm run bench -- adapters [--quick] [redis|amqp|nats|mqtt …]` measures only the brokers named.
    const systems = args.length === 0 ? SYSTEMS : SYSTEMS.filter((s) => args.includes(s.kind));
    const anchors = await ensureAnchors(systems.map((s) => s.anchor));
    const results: BenchResult[] = [];
    try {
      for (const system of systems) {
        const port = anchors.ports[system.anchor];
        if (port === undefined) {
          results.push(missingResult(system, anchors.missing[system.anchor] ?? `${system.anchor} is not running`));
          continue;
        }
        results.push(await measureSystem(system, system.url(port), quick));
      }
      return results;
    } finally {
      await anchors.release();
    }
  },
};

export async function measureSystem(system: System, url: string, quick: boolean): Promise<BenchResult> {
  const n = system.count[quick ? 0 : 1];
  const rounds = quick ? 5 : 9;
  let raw: Contender | undefined;
  let courier: Contender | undefined;
  try {
    try {
      raw = await withTimeout(system.raw(url), CONNECT_TIMEOUT_MS, 'connecting');
      courier = await withTimeout(system.courier(url), CONNECT_TIMEOUT_MS, 'connecting');
    } catch (error) {
      return missingResult(system, `could not connect to ${url}: ${short(error)}`);
    }
    const contenders = { raw, courier };
    const rates = { raw: [] as number[], courier: [] as number[] };
    let run = 0;
    const topicFor = (who: string): string => `bench-adapters-${system.kind}-${who}-${process.pid}-${run++}`;
    // Warm-up: connections, JIT, broker-side objects.
    for (const who of ['raw', 'courier'] as const) await endToEnd(contenders[who], topicFor(who), Math.ceil(n / 5));
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? (['raw', 'courier'] as const) : (['courier', 'raw'] as const);
      for (const who of order) rates[who].push(await endToEnd(contenders[who], topicFor(who), n));
    }
    const c = median(rates.courier);
    const a = median(rates.raw);
    return {
      name: `adapters e2e msg/s: courier/${system.kind} vs ${system.label}`,
      value: Math.round(c),
      unit: 'msg/s',
      anchor: system.label,
      anchorValue: Math.round(a),
      ratio: rateRatio(c, a),
      note: `target ≥ 0.9×; median of ${rounds} rounds of ${n.toLocaleString('en-US')}; courier ${range(rates.courier)}, raw ${range(rates.raw)}`,
    };
  } catch (error) {
    return missingResult(system, `run failed: ${short(error)}`);
  } finally {
    await courier?.close().catch(() => undefined);
    await raw?.close().catch(() => undefined);
  }
}

/** Publish `n` messages (WINDOW in flight) to a fresh topic with a consumer attached; msg/s end to end. */
async function endToEnd(contender: Contender, topic: string, n: number): Promise<number> {
  let count = 0;
  let lastAt = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  const stop = await contender.consume(topic, () => {
    if (++count === n) {
      lastAt = performance.now();
      done();
    }
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const startAt = performance.now();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < n) {
        next++;
        await contender.publish(topic);
      }
    };
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`only ${count} of ${n} messages consumed on ${topic} within ${RUN_TIMEOUT_MS} ms`)), RUN_TIMEOUT_MS);
    });
    const work = Promise.all([Promise.all(Array.from({ length: Math.min(WINDOW, n) }, worker)), all]);
    work.catch(() => undefined); // after a timeout nobody awaits it any more
    await Promise.race([work, timeout]);
    return (n / (lastAt - startAt)) * 1000;
  } finally {
    clearTimeout(timer);
    await stop();
    await contender.cleanup(topic).catch(() => undefined);
  }
}

// ---- Courier: the same for every adapter ----

function courierContender(broker: Broker, cleanup: (topic: string) => Promise<void>, close: () => Promise<void> = async () => undefined): Contender {
  return {
    consume: async (topic, acked) => {
      const sub = await broker.subscribe(topic, { group: GROUP, prefetch: PREFETCH }, async (d) => {
        await d.ack();
        acked();
      });
      return () => sub.close();
    },
    publish: (topic) => broker.publish(topic, { id: newId(), headers: {}, body: BODY }),
    cleanup,
    close: async () => {
      await broker.close();
      await close();
    },
  };
}

// ---- Redis Streams ----

/** A connected ioredis client, or a rejection (and no client left reconnecting) if Redis is not there. */
async function redisClient(url: string, options: RedisOptions = {}): Promise<Redis> {
  const client = new Redis(url, { ...options, lazyConnect: true });
  client.on('error', () => undefined); // failures surface as rejected commands
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    throw error;
  }
  return client;
}

async function redisRaw(url: string): Promise<Contender> {
  const producer = await redisClient(url, { enableAutoPipelining: true });
  const admin = await redisClient(url).catch((error: unknown) => {
    producer.disconnect();
    throw error;
  });
  return {
    consume: async (topic, acked) => {
      await admin.xgroup('CREATE', topic, GROUP, '$', 'MKSTREAM');
      const reader = await redisClient(url);
      let running = true;
      const acks = new Set<Promise<void>>();
      const loop = (async () => {
        while (running) {
          const reply = (await reader.callBuffer('XREADGROUP', 'GROUP', GROUP, 'c1', 'COUNT', PREFETCH, 'BLOCK', 100, 'STREAMS', topic, '>')) as
            | Array<[Buffer, Array<[Buffer, Buffer[]]>]>
            | null;
          if (reply === null) continue;
          const ids: Buffer[] = [];
          for (const [, entries] of reply) for (const [id] of entries) ids.push(id);
          if (ids.length === 0) continue;
          const ack = admin.xack(topic, GROUP, ...ids).then(() => {
            for (let i = 0; i < ids.length; i++) acked();
          });
          acks.add(ack);
          void ack.finally(() => acks.delete(ack));
        }
      })();
      return async () => {
        running = false;
        await loop;
        await Promise.allSettled([...acks]);
        await reader.quit();
      };
    },
    publish: (topic) => producer.xadd(topic, '*', 'd', BODY),
    cleanup: async (topic) => {
      await admin.del(topic);
    },
    close: async () => {
      await producer.quit();
      await admin.quit();
    },
  };
}

async function redisCourier(url: string): Promise<Contender> {
  const admin = await redisClient(url);
  const broker = redisBroker({ url, retention: 'none' });
  return courierContender(
    broker,
    async (topic) => {
      await admin.del(topic, `${topic}:courier-retry:${GROUP}`, `${topic}:courier-scheduled`);
    },
    async () => {
      await admin.quit();
    },
  );
}

// ---- RabbitMQ ----

async function amqpRaw(url: string): Promise<Contender> {
  const connection = await amqp.connect(url);
  const publisher = await connection.createConfirmChannel();
  const admin = await connection.createChannel();
  return {
    consume: async (topic, acked) => {
      const queue = `${topic}.${GROUP}`;
      await admin.assertExchange(topic, 'topic', { durable: true });
      await admin.assertQueue(queue, { durable: true });
      await admin.bindQueue(queue, topic, '#');
      const ch = await connection.createChannel();
      await ch.prefetch(PREFETCH);
      const { consumerTag } = await ch.consume(
        queue,
        (msg) => {
          if (msg === null) return;
          ch.ack(msg);
          acked();
        },
        { noAck: false },
      );
      return async () => {
        await ch.cancel(consumerTag);
        await ch.close();
      };
    },
    publish: (topic) =>
      new Promise<void>((resolve, reject) => {
        publisher.publish(topic, '', BODY, { persistent: true }, (error: unknown) => (error ? reject(error instanceof Error ? error : new Error('message nacked')) : resolve()));
      }),
    cleanup: (topic) => amqpCleanup(admin, topic),
    close: async () => {
      await publisher.close();
      await admin.close();
      await connection.close();
    },
  };
}

async function amqpCleanup(admin: amqp.Channel, topic: string): Promise<void> {
  await admin.deleteQueue(`${topic}.${GROUP}`);
  await admin.deleteExchange(topic);
}

async function amqpCourier(url: string): Promise<Contender> {
  const connection = await amqp.connect(url);
  const admin = await connection.createChannel();
  return courierContender(
    amqpBroker({ url }),
    (topic) => amqpCleanup(admin, topic),
    async () => {
      await admin.close();
      await connection.close();
    },
  );
}

// ---- NATS JetStream ----

async function natsRaw(url: string): Promise<Contender> {
  // Configured as the adapter configures its own connection (no stack trace captured per request).
  const nc = await natsConnect({ servers: url, noAsyncTraces: true });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  return {
    consume: async (topic, acked) => {
      const stream = `raw_${topic.replace(/[^A-Za-z0-9_-]/g, '_')}`;
      await jsm.streams.add({ name: stream, subjects: [topic], storage: 'file', retention: 'interest' });
      await jsm.consumers.add(stream, { durable_name: GROUP, ack_policy: 'explicit', deliver_policy: 'new', max_ack_pending: 100_000 });
      const consumer = await js.consumers.get(stream, GROUP);
      const messages = await consumer.consume({ max_messages: PREFETCH });
      const loop = (async () => {
        for await (const m of messages) {
          m.ack();
          acked();
        }
      })();
      return async () => {
        await messages.close();
        await loop;
      };
    },
    publish: (topic) => js.publish(topic, BODY),
    cleanup: async (topic) => {
      await jsm.streams.delete(`raw_${topic.replace(/[^A-Za-z0-9_-]/g, '_')}`);
    },
    close: async () => {
      await nc.close();
    },
  };
}

async function natsCourier(url: string): Promise<Contender> {
  const nc: NatsConnection = await natsConnect({ servers: url });
  const jsm: JetStreamManager = await jetstreamManager(nc);
  return courierContender(
    natsBroker({ servers: url }),
    async (topic) => {
      await jsm.streams.delete(natsName('courier_', topic));
    },
    async () => {
      await nc.close();
    },
  );
}

// ---- MQTT ----

function mqttClient(url: string, options: IClientOptions): Promise<MqttClient> {
  // No logger, as the adapter configures its own clients (mqtt.js's default `debug` logger costs CPU even when off).
  const client = mqttConnect(url, { protocolVersion: 5, reconnectPeriod: 250, log: () => undefined, ...options });
  client.on('connect', () => (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true));
  client.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', (error) => {
      client.end(true);
      reject(error);
    });
  });
}

async function mqttRaw(url: string): Promise<Contender> {
  const publisher = await mqttClient(url, { clean: true });
  return {
    consume: async (topic, acked) => {
      const consumer = await mqttClient(url, {
        clientId: `bench-raw-${process.pid}-${topic}`.slice(0, 64),
        clean: false,
        properties: { sessionExpiryInterval: 60, receiveMaximum: PREFETCH },
      });
      consumer.on('message', () => acked()); // mqtt.js sends the PUBACK once the message was handled
      await consumer.subscribeAsync(`$share/${GROUP}/${topic}`, { qos: 1 });
      return async () => {
        await consumer.endAsync();
      };
    },
    publish: (topic) => publisher.publishAsync(topic, BODY, { qos: 1 }),
    cleanup: async () => undefined,
    close: async () => {
      await publisher.endAsync();
    },
  };
}

async function mqttCourier(url: string): Promise<Contender> {
  return courierContender(mqttBroker({ url, instanceId: `bench-adapters-${process.pid}`, sessionExpirySeconds: 60 }), async () => undefined);
}

export const SYSTEMS: readonly System[] = [
  { kind: 'redis', label: 'ioredis (XADD pipelined / XREADGROUP / XACK)', anchor: 'redis', count: [40_000, 100_000], raw: redisRaw, courier: redisCourier, url: (p) => `redis://127.0.0.1:${p}` },
  { kind: 'amqp', label: 'amqplib (confirm channel, persistent, manual ack)', anchor: 'rabbitmq', count: [4_000, 15_000], raw: amqpRaw, courier: amqpCourier, url: (p) => `amqp://guest:guest@127.0.0.1:${p}` },
  { kind: 'nats', label: 'JetStream (publish acks, pull consumer)', anchor: 'nats', count: [10_000, 30_000], raw: natsRaw, courier: natsCourier, url: (p) => `nats://127.0.0.1:${p}` },
  { kind: 'mqtt', label: 'mqtt.js (QoS 1)', anchor: 'mosquitto', count: [10_000, 30_000], raw: mqttRaw, courier: mqttCourier, url: (p) => `mqtt://127.0.0.1:${p}` },
];

async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function missingResult(system: System, why: string): BenchResult {
  return {
    name: `adapters e2e msg/s: courier/${system.kind} vs ${system.label}`,
    value: NaN,
    unit: 'msg/s',
    anchor: system.label,
    anchorValue: null,
    ratio: null,
    note: `missing: ${why}`,
  };
}

function range(values: readonly number[]): string {
  if (values.length === 0) return '-';
  return `${Math.round(Math.min(...values)).toLocaleString('en-US')}–${Math.round(Math.max(...values)).toLocaleString('en-US')}`;
}

function short(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 160);
}
