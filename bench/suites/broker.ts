/**
 * Broker benchmark: Courier's embedded broker against Redis Streams, RabbitMQ and BullMQ, end to end.
 *
 * Setup, the same for every system: 256-byte messages, ONE producer process and ONE consumer process
 * (`bench/processes/broker-child.ts`, spawned here and reused for every system in turn), on the same
 * machine as the broker. The producer keeps up to 1000 publishes unacknowledged; a publish counts when
 * the system acknowledged it as durable (Courier: committed; Redis: XADD reply with AOF on; RabbitMQ:
 * publisher confirm; BullMQ: `add` resolved). The consumer acknowledges every message (prefetch 500).
 *
 * Courier's topology: the producer's process owns the embedded broker and serves it on a Unix socket; the
 * consumer process is a `remoteBroker` client. That is how the embedded broker is meant to be deployed
 * (the service that writes owns its broker; workers elsewhere connect), and it is the realistic
 * counterpart of "producer → broker daemon → consumer". One extra row puts the broker in a third process
 * with both producer and consumer remote, the same shape as a broker daemon. Every child runs Courier as
 * shipped (`bench/lib/shipped.ts`: plain JavaScript, not the sources through tsx), as the anchors' client
 * libraries run.
 *
 * Measured after one discarded warm-up run per system (as long as a measured run); throughput rounds with
 * the systems' order rotating, then latency rounds (medians of 5 and 3 rounds, 1 each with --quick):
 * - end-to-end msg/s: messages / (last consumed − first published);
 * - p99 delivery latency while publishing at a paced 1,000 msg/s (receipt − publish call, from a
 *   timestamp in the message; first 10% dropped as warm-up).
 * Targets: embedded `process` ≥ 3× Redis Streams and ≥ 20× BullMQ; `power` ≥ 8× RabbitMQ; p99 ≤ 2 ms
 * (`process`) and ≤ 5 ms (`power`). Anchors are started with scripts/brokers.sh if they are not running
 * (and stopped again); an anchor that cannot be started is reported as missing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureAnchors, type Anchors } from '../lib/brokers.js';
import { median } from '../lib/measure.js';
import { costRatio, rateRatio, round, type BenchResult, type Suite } from '../lib/suite.js';
import { buildShipped } from '../lib/shipped.js';
import { ChildControl } from '../processes/control.js';
import type { ConsumedReply, ProduceReply, SystemSpec } from '../processes/wire.js';

type SystemKey = 'embedded-process' | 'embedded-power' | 'embedded-owner' | 'redis-streams' | 'rabbitmq' | 'bullmq';

interface Contender {
  readonly key: SystemKey;
  readonly spec: SystemSpec;
  /** Messages per throughput run (quick, full): each run should take a few seconds. */
  readonly count: readonly [number, number];
  readonly latency: boolean;
}

const WINDOW = 1000;
const PREFETCH = 500;
const PACED_RATE = 1000;

class Measurements {
  readonly rates = new Map<SystemKey, number[]>();
  readonly p99 = new Map<SystemKey, number[]>();
  readonly p50 = new Map<SystemKey, number[]>();
  readonly failed = new Map<SystemKey, string>();

  add(map: Map<SystemKey, number[]>, key: SystemKey, value: number): void {
    map.set(key, [...(map.get(key) ?? []), value]);
  }

  get(map: Map<SystemKey, number[]>, key: SystemKey): number | undefined {
    const values = map.get(key);
    return values === undefined || values.length === 0 ? undefined : median(values);
  }
}

export const suite: Suite = {
  name: 'broker',
  description:
    'end-to-end msg/s and p99 latency at a paced 1k msg/s, 256-byte messages, one producer and one consumer process: Courier embedded (process, power) vs Redis Streams, RabbitMQ, BullMQ',
  async run({ quick }) {
    const anchors = await ensureAnchors(['redis', 'rabbitmq']);
    const scratch = mkdtempSync(join(tmpdir(), 'courier-bench-broker-'));
    const shipped = await buildShipped();
    const children: ChildControl[] = [];
    const m = new Measurements();
    try {
      const contenders = contendersFor(anchors, scratch);
      const ownerArgs = [join(scratch, 'owner'), join(scratch, 'owner.sock'), 'process'];
      const owner = await ChildControl.start('broker owner', 'broker-owner.ts', ownerArgs, shipped);
      children.push(owner);
      const producer = await ChildControl.start('producer', 'broker-child.ts', [], shipped);
      const consumer = await ChildControl.start('consumer', 'broker-child.ts', [], shipped);
      children.push(producer, consumer);
      const open: Contender[] = [];
      for (const c of contenders) {
        try {
          await producer.send({ op: 'open', key: c.key, spec: c.spec, role: 'producer' });
          await consumer.send({ op: 'open', key: c.key, spec: c.spec, role: 'consumer' });
          open.push(c);
        } catch (error) {
          m.failed.set(c.key, `could not connect: ${String(error).slice(0, 160)}`);
        }
      }
      // One discarded warm-up run per system first, as long as a measured one: Courier and every client
      // library are JIT-compiled JavaScript, and a cold first run measures the compiler, not the broker; a
      // broker's first run also grows its files, where later runs reuse the space retention freed.
      for (const c of open) {
        await measure(producer, consumer, c.key, `bench-${c.key}-warmup`, c.count[quick ? 0 : 1], { op: 'produce', window: WINDOW }).catch((e: unknown) => {
          m.failed.set(c.key, `warm-up: ${String(e).slice(0, 160)}`);
        });
      }
      const rounds = quick ? 1 : 5;
      const latencyRounds = quick ? 1 : 3;
      const paced = quick ? 2_000 : 10_000;
      let run = 0;
      // Throughput rounds first, back to back, the systems' order rotating each round so none is always
      // first; then the paced latency rounds. Interleaving them ran each round's first system right after
      // ten idle-ish seconds of pacing, when V8 had shrunk the young generation again.
      for (let r = 0; r < rounds; r++) {
        for (let i = 0; i < open.length; i++) {
          const c = open[(i + r) % open.length]!;
          const n = c.count[quick ? 0 : 1];
          const topic = `bench-${c.key}-tp-${r}-${run++}`;
          const result = await measure(producer, consumer, c.key, topic, n, { op: 'produce', window: WINDOW }).catch((e: unknown) => {
            m.failed.set(c.key, String(e).slice(0, 160));
            return undefined;
          });
          if (result !== undefined) m.add(m.rates, c.key, (n / (result.consumed.lastAt - result.produced.startAt)) * 1000);
        }
      }
      for (let r = 0; r < latencyRounds; r++) {
        for (const c of open.filter((o) => o.latency)) {
          const topic = `bench-${c.key}-lat-${r}-${run++}`;
          const result = await measure(producer, consumer, c.key, topic, paced, { op: 'pace', rate: PACED_RATE }).catch((e: unknown) => {
            m.failed.set(c.key, String(e).slice(0, 160));
            return undefined;
          });
          if (result !== undefined) {
            m.add(m.p99, c.key, result.consumed.p99);
            m.add(m.p50, c.key, result.consumed.p50);
          }
        }
      }
      for (const c of open) {
        await producer.send({ op: 'close', key: c.key }).catch(() => undefined);
        await consumer.send({ op: 'close', key: c.key }).catch(() => undefined);
      }
      return results(m, anchors, quick);
    } finally {
      for (const child of children.reverse()) await child.stop();
      await anchors.release();
      rmSync(scratch, { recursive: true, force: true });
      await shipped.cleanup();
    }
  },
};

function contendersFor(anchors: Anchors, scratch: string): Contender[] {
  const list: Contender[] = [
    {
      key: 'embedded-process',
      spec: { kind: 'courier', durability: 'process', socketPath: join(scratch, 'process.sock'), ownerDir: join(scratch, 'process') },
      count: [40_000, 200_000],
      latency: true,
    },
    {
      key: 'embedded-power',
      spec: { kind: 'courier', durability: 'power', socketPath: join(scratch, 'power.sock'), ownerDir: join(scratch, 'power') },
      count: [30_000, 150_000],
      latency: true,
    },
    {
      key: 'embedded-owner',
      spec: { kind: 'courier', durability: 'process', socketPath: join(scratch, 'owner.sock') },
      count: [30_000, 150_000],
      latency: false,
    },
  ];
  const redis = anchors.ports.redis;
  if (redis !== undefined) {
    list.push({ key: 'redis-streams', spec: { kind: 'redis-streams', port: redis }, count: [30_000, 100_000], latency: true });
    list.push({ key: 'bullmq', spec: { kind: 'bullmq', port: redis }, count: [4_000, 20_000], latency: true });
  }
  const rabbit = anchors.ports.rabbitmq;
  if (rabbit !== undefined) {
    list.push({ key: 'rabbitmq', spec: { kind: 'rabbitmq', url: `amqp://guest:guest@127.0.0.1:${rabbit}` }, count: [10_000, 40_000], latency: true });
  }
  return list;
}

async function measure(
  producer: ChildControl,
  consumer: ChildControl,
  key: SystemKey,
  topic: string,
  n: number,
  how: { op: 'produce'; window: number } | { op: 'pace'; rate: number },
): Promise<{ produced: ProduceReply; consumed: ConsumedReply }> {
  await consumer.send({ op: 'consume', key, topic, n, prefetch: PREFETCH });
  try {
    const produced =
      how.op === 'produce'
        ? await producer.send<ProduceReply>({ op: 'produce', key, topic, n, window: how.window })
        : await producer.send<ProduceReply>({ op: 'pace', key, topic, n, rate: how.rate });
    const consumed = await consumer.send<ConsumedReply>({ op: 'awaitConsumed', topic, timeoutMs: 120_000 });
    return { produced, consumed };
  } finally {
    await consumer.send({ op: 'stopConsume', topic });
  }
}

const LABEL: Record<SystemKey, string> = {
  'embedded-process': 'Courier embedded (process)',
  'embedded-power': 'Courier embedded (power)',
  'embedded-owner': 'Courier embedded (process), broker in its own process',
  'redis-streams': 'Redis Streams',
  rabbitmq: 'RabbitMQ',
  bullmq: 'BullMQ',
};

function results(m: Measurements, anchors: Anchors, quick: boolean): BenchResult[] {
  const why = (key: SystemKey): string => {
    const anchorBroker = key === 'rabbitmq' ? 'rabbitmq' : 'redis';
    return m.failed.get(key) ?? anchors.missing[anchorBroker] ?? 'not measured';
  };
  const rate = (courier: SystemKey, anchor: SystemKey, target: string): BenchResult => {
    const c = m.get(m.rates, courier);
    const a = m.get(m.rates, anchor);
    return {
      name: `broker e2e msg/s: ${LABEL[courier]} vs ${LABEL[anchor]}`,
      value: c === undefined ? NaN : Math.round(c),
      unit: 'msg/s',
      anchor: LABEL[anchor],
      anchorValue: a === undefined ? null : Math.round(a),
      ratio: c === undefined || a === undefined ? null : rateRatio(c, a),
      note: a === undefined || c === undefined ? `missing: ${c === undefined ? why(courier) : why(anchor)}` : target,
    };
  };
  const p99 = (courier: SystemKey, anchor: SystemKey, target: string): BenchResult => {
    const c = m.get(m.p99, courier);
    const a = m.get(m.p99, anchor);
    const p50 = m.get(m.p50, courier);
    return {
      name: `broker p99 ms @${PACED_RATE} msg/s: ${LABEL[courier]} vs ${LABEL[anchor]}`,
      value: c === undefined ? NaN : round(c, 3),
      unit: 'ms',
      anchor: LABEL[anchor],
      anchorValue: a === undefined ? null : round(a, 3),
      ratio: c === undefined || a === undefined ? null : costRatio(c, a),
      note:
        a === undefined || c === undefined
          ? `missing: ${c === undefined ? why(courier) : why(anchor)}`
          : `${target}; courier p50 ${p50?.toFixed(2)} ms${quick ? '; quick: 2k paced messages' : ''}`,
    };
  };
  return [
    rate('embedded-process', 'redis-streams', 'target ≥ 3×'),
    rate('embedded-process', 'bullmq', 'target ≥ 20×'),
    rate('embedded-power', 'rabbitmq', 'target ≥ 8×'),
    rate('embedded-owner', 'redis-streams', 'informative: producer and consumer both remote, broker in a third process'),
    p99('embedded-process', 'redis-streams', 'target ≤ 2 ms'),
    p99('embedded-power', 'rabbitmq', 'target ≤ 5 ms'),
    p99('embedded-process', 'bullmq', 'informative'),
  ];
}
