/**
 * A child process of the broker benchmark: the producer or the consumer (the suite runs one of each), for
 * every system in turn. It reads commands (`wire.ts`) as JSON lines on stdin and answers each on stdout.
 *
 * - `produce`: publish `n` messages with at most `window` publishes unacknowledged at once.
 * - `pace`: publish `n` messages at `rate` per second (each stamped with its send time).
 * - `consume` / `awaitConsumed`: consume a topic and report when `n` messages arrived, with the delivery
 *   latency percentiles (receipt time − send time in the message).
 */
import { createInterface } from 'node:readline';
import { bullConsumer, bullProducer } from './systems/bullmq.js';
import { courierConsumer, courierProducer } from './systems/courier.js';
import { rabbitConsumer, rabbitProducer } from './systems/rabbitmq.js';
import { redisConsumer, redisProducer } from './systems/redis-streams.js';
import type { ConsumerSide, ProducerSide } from './systems/system.js';
import { nowMs, restamp, stampedBody, type Command, type ConsumedReply, type ProduceReply, type SystemSpec } from './wire.js';

const producers = new Map<string, ProducerSide>();
const consumers = new Map<string, ConsumerSide>();

interface Consumption {
  readonly n: number;
  readonly latencies: Float64Array;
  count: number;
  firstAt: number;
  lastAt: number;
  stop: () => Promise<void>;
  done: Promise<void>;
  markDone: () => void;
}
const consumptions = new Map<string, Consumption>();

async function open(spec: SystemSpec, role: 'producer' | 'consumer'): Promise<ProducerSide | ConsumerSide> {
  switch (spec.kind) {
    case 'courier':
      return role === 'producer' ? courierProducer(spec) : courierConsumer(spec);
    case 'redis-streams':
      return role === 'producer' ? redisProducer(spec.port) : redisConsumer(spec.port);
    case 'rabbitmq':
      return role === 'producer' ? rabbitProducer(spec.url) : rabbitConsumer(spec.url);
    case 'bullmq':
      return role === 'producer' ? bullProducer(spec.port) : bullConsumer(spec.port);
  }
}

function need<T>(map: Map<string, T>, key: string): T {
  const value = map.get(key);
  if (value === undefined) throw new Error(`nothing open under ${key}`);
  return value;
}

async function produce(side: ProducerSide, topic: string, n: number, window: number): Promise<ProduceReply> {
  const startAt = nowMs();
  let next = 0;
  const worker = async (): Promise<void> => {
    // One body per worker, reused once its publish settled (see `restamp`): allocating a body per message
    // is harness overhead in the producer process, and the producer is the broker's owner for Courier.
    const body = stampedBody();
    while (next < n) {
      next++;
      await side.publish(topic, restamp(body));
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, n) }, worker));
  return { startAt, endAt: nowMs() };
}

/** Publish at a steady `rate`: every wake-up sends what is due (timers are ~1 ms coarse). */
async function pace(side: ProducerSide, topic: string, n: number, rate: number): Promise<ProduceReply> {
  const interval = 1000 / rate;
  const startAt = nowMs();
  const pending: Promise<unknown>[] = [];
  let sent = 0;
  while (sent < n) {
    const due = Math.min(n, Math.floor((nowMs() - startAt) / interval) + 1);
    while (sent < due) {
      pending.push(side.publish(topic, stampedBody()));
      sent++;
    }
    if (sent < n) {
      const wait = startAt + sent * interval - nowMs();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));
    }
  }
  await Promise.all(pending);
  return { startAt, endAt: nowMs() };
}

async function consume(side: ConsumerSide, topic: string, n: number, prefetch: number): Promise<void> {
  let markDone!: () => void;
  const c: Consumption = {
    n,
    latencies: new Float64Array(n),
    count: 0,
    firstAt: 0,
    lastAt: 0,
    stop: async () => undefined,
    done: new Promise<void>((resolve) => (markDone = resolve)),
    markDone: () => markDone(),
  };
  consumptions.set(topic, c);
  const handle = await side.consume(topic, prefetch, (sent) => {
    const now = nowMs();
    if (c.count === 0) c.firstAt = now;
    if (c.count < c.n) c.latencies[c.count] = now - sent;
    c.count++;
    c.lastAt = now;
    if (c.count === c.n) c.markDone();
  });
  c.stop = handle.stop;
}

async function awaitConsumed(topic: string, timeoutMs: number): Promise<ConsumedReply> {
  const c = need(consumptions, topic);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    c.done,
    new Promise<void>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`only ${c.count} of ${c.n} messages arrived on ${topic} within ${timeoutMs} ms`)), timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
  const measured = Array.from(c.latencies.subarray(Math.floor(c.n / 10))).sort((a, b) => a - b);
  const at = (p: number): number => measured[Math.min(measured.length - 1, Math.max(0, Math.ceil((p / 100) * measured.length) - 1))] ?? NaN;
  return { count: c.count, firstAt: c.firstAt, lastAt: c.lastAt, p50: at(50), p99: at(99), max: measured[measured.length - 1] ?? NaN };
}

async function execute(command: Command): Promise<unknown> {
  switch (command.op) {
    case 'open': {
      const side = await open(command.spec, command.role);
      if (command.role === 'producer') producers.set(command.key, side as ProducerSide);
      else consumers.set(command.key, side as ConsumerSide);
      return {};
    }
    case 'consume':
      await consume(need(consumers, command.key), command.topic, command.n, command.prefetch);
      return {};
    case 'awaitConsumed':
      return awaitConsumed(command.topic, command.timeoutMs);
    case 'stopConsume': {
      const c = consumptions.get(command.topic);
      consumptions.delete(command.topic);
      await c?.stop();
      return {};
    }
    case 'produce':
      return produce(need(producers, command.key), command.topic, command.n, command.window);
    case 'pace':
      return pace(need(producers, command.key), command.topic, command.n, command.rate);
    case 'close': {
      const side = producers.get(command.key) ?? consumers.get(command.key);
      producers.delete(command.key);
      consumers.delete(command.key);
      await side?.close();
      return {};
    }
    case 'rss':
      return { rss: process.memoryUsage.rss() };
    case 'cpu': {
      const { user, system } = process.cpuUsage();
      return { micros: user + system };
    }
    case 'exit':
      setImmediate(() => process.exit(0));
      return {};
    case 'seek':
    case 'stats':
      throw new Error(`${command.op} is for the broker owner`);
  }
}

const reply = (line: object): void => void process.stdout.write(`${JSON.stringify(line)}\n`);
createInterface({ input: process.stdin }).on('line', (line) => {
  const { id, ...command } = JSON.parse(line) as Command & { id: number };
  execute(command).then(
    (result) => reply({ id, result }),
    (error: unknown) => reply({ id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }),
  );
});
reply({ ready: true });
