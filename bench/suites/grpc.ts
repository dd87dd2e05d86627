/**
 * Courier's gRPC transport against @grpc/grpc-js (server + client, same generated .proto) and against
 * Courier's HTTP/1.1 JSON transport, in the same run, contenders interleaved in rounds (median reported).
 *
 * Servers run in one child process (Courier gRPC, grpc-js, Courier HTTP on three ports; pinned to core 0 when
 * taskset exists), the load in this process (core 1). Courier is loaded as shipped: src/ transpiled to plain
 * JavaScript (`bench/lib/shipped.ts`), so tsx's keepNames wrappers do not slow it down.
 * Rows: unary `place` (the ~1.3 KB JSON order, ~0.6 KB protobuf, validated) at 1 and 64 calls in flight, and
 * server streaming (messages per second over 64-message streams, 8 streams in flight).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { median } from '../lib/measure.js';
import { type BenchResult, type Suite, costRatio, round } from '../lib/suite.js';
import { buildShipped } from '../lib/shipped.js';

const CHILD = `
const root = process.argv[1];
const load = (p) => import(new URL(p, 'file://' + root + '/').href);
const { z } = await import('zod');
const { service, query, command } = await load('src/core/contract.js');
const { grpcServer, protoFile } = await load('src/sync/grpc/index.js');
const { httpServer } = await load('src/sync/http/server.js');
const { Order } = await load('test/schema/order-schema.js');
const { createRequire } = await import('node:module');
const require = createRequire(root + '/../../../package.json');
const grpcJs = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const fs = await import('node:fs');
const Receipt = z.object({ orderId: z.string(), accepted: z.boolean(), totalCents: z.number().int(), items: z.number().int() });
const Tick = z.object({ i: z.number().int(), sku: z.string() });
const Shop = service('shop', {
  queries: { ticks: query({ input: z.object({ n: z.number().int() }), output: Tick, stream: 'server' }) },
  commands: { place: command({ input: Order, output: Receipt }) },
});
const receipt = (o) => ({ orderId: o.orderId, accepted: true, totalCents: o.totalCents, items: o.items.length });
const impl = { place: async (o) => receipt(o), ticks: async function* (q) { for (let i = 0; i < q.n; i++) yield { i, sku: 'ABC-1001' }; } };
const g = grpcServer({ idempotency: false }); g.serve(Shop, impl); await g.listen();
const h = httpServer({ idempotency: false }); h.serve(Shop, impl); await h.listen();
const protoPath = process.argv[2];
fs.writeFileSync(protoPath, protoFile(Shop));
const def = protoLoader.loadSync(protoPath, { keepCase: true, longs: Number, defaults: false, oneofs: false });
const Svc = grpcJs.loadPackageDefinition(def).shop.Shop;
const js = new grpcJs.Server();
js.addService(Svc.service, {
  Place: (call, cb) => cb(null, receipt(call.request)),
  Ticks: (call) => { for (let i = 0; i < call.request.n; i++) call.write({ i, sku: 'ABC-1001' }); call.end(); },
});
const jsPort = await new Promise((res, rej) => js.bindAsync('127.0.0.1:0', grpcJs.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
process.on('message', (m) => { if (m === 'cpu') { const c = process.cpuUsage(); process.send({ cpu: c.user + c.system }); } });
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0)); // a clean exit, so that --cpu-prof writes its profile
process.send({ grpc: g.address, http: h.url, js: '127.0.0.1:' + jsPort });
`;

interface Sample {
  readonly rate: number;
  /** CPU µs (user + system) per call (per message for streams) of this process and of the servers' process. */
  readonly clientCpu: number;
  readonly serverCpu: number;
}

async function drive(call: () => Promise<unknown>, concurrency: number, ms: number): Promise<{ count: number; seconds: number }> {
  let count = 0;
  const start = process.hrtime.bigint();
  const stopAt = start + BigInt(ms) * 1_000_000n;
  const loop = async () => {
    while (process.hrtime.bigint() < stopAt) {
      // Not `count += await call()`: that reads `count` before the await, and concurrent loops overwrite each other.
      const n = (await call()) as number;
      count += n;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { count, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

async function measure(call: () => Promise<unknown>, concurrency: number, ms: number, serverCpu: () => Promise<number>): Promise<Sample> {
  const server0 = await serverCpu();
  const client0 = process.cpuUsage();
  const { count, seconds } = await drive(call, concurrency, ms);
  const client = process.cpuUsage(client0);
  const server1 = await serverCpu();
  return { rate: count / seconds, clientCpu: (client.user + client.system) / count, serverCpu: (server1 - server0) / count };
}

type Medians = { rate: number; clientCpu: number; serverCpu: number; samples: readonly Sample[] };

async function interleave<K extends string>(names: readonly K[], rounds: number, one: (k: K) => Promise<Sample>): Promise<Record<K, Medians>> {
  const samples = new Map<K, Sample[]>(names.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(r + k) % names.length]!; // rotate who goes first
      samples.get(name)!.push(await one(name));
    }
  }
  const out = {} as Record<K, Medians>;
  for (const [name, s] of samples) {
    out[name] = {
      rate: median(s.map((x) => x.rate)),
      clientCpu: median(s.map((x) => x.clientCpu)),
      serverCpu: median(s.map((x) => x.serverCpu)),
      samples: s,
    };
  }
  return out;
}

/**
 * The rate ratio of two contenders round by round (both measured within a second or two of each other, so
 * a burst of load from other processes on these shared machines hits both), its median and range.
 */
function paired(a: Medians, b: Medians): { median: number; min: number; max: number } {
  const r = a.samples.map((x, i) => x.rate / b.samples[i]!.rate);
  return { median: round(median(r), 3), min: round(Math.min(...r), 2), max: round(Math.max(...r), 2) };
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const suite: Suite = {
  name: 'grpc',
  description: 'Courier gRPC (own HTTP/2 on a plain socket + protobuf codec) vs @grpc/grpc-js vs Courier HTTP/1.1 JSON',
  async run({ quick, args }) {
    // Extra arguments: --rounds=N, --ms=N (per round), --concurrency=1,64, --no-stream.
    const arg = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
    const ms = Number(arg('ms') ?? (quick ? 700 : 2500));
    const rounds = Number(arg('rounds') ?? (quick ? 5 : 7));
    const concurrencies = (arg('concurrency') ?? '1,64').split(',').map(Number);
    const streaming = !args.includes('--no-stream');
    const shipped = await buildShipped();
    const pin = process.env['COURIER_BENCH_NO_PIN'] === undefined && hasTaskset();
    const protoPath = join(mkdtempSync(join(tmpdir(), 'courier-grpc-bench-')), 'shop.proto');
    // COURIER_BENCH_CHILD_NODE_ARGS adds Node flags to the servers' process (e.g. `--cpu-prof`).
    const childNodeArgs = (process.env['COURIER_BENCH_CHILD_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
    const nodeArgs = [...childNodeArgs, '--input-type=module', '-e', CHILD, shipped.root, protoPath];
    let child: ChildProcess | undefined;
    try {
      if (pin) execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
      child = pin
        ? spawn('taskset', ['-c', '0', process.execPath, ...nodeArgs], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
        : spawn(process.execPath, nodeArgs, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const where = await new Promise<{ grpc: string; http: string; js: string }>((resolve, reject) => {
        child!.once('message', (m: any) => resolve(m));
        child!.once('exit', (code) => reject(new Error(`bench servers exited with ${code}`)));
      });
      const load = (p: string): Promise<any> => import(pathToFileURL(join(shipped.root, p)).href);
      const { service, query, command } = await load('src/core/contract.js');
      const { grpc } = await load('src/sync/grpc/index.js');
      const { http } = await load('src/sync/http/client.js');
      const { Order, sampleOrder } = await load('test/schema/order-schema.js');
      const { z } = await import('zod');
      const grpcJs = await import('@grpc/grpc-js');
      const protoLoader = await import('@grpc/proto-loader');
      const Receipt = z.object({ orderId: z.string(), accepted: z.boolean(), totalCents: z.number().int(), items: z.number().int() });
      const Tick = z.object({ i: z.number().int(), sku: z.string() });
      const Shop = service('shop', {
        queries: { ticks: query({ input: z.object({ n: z.number().int() }), output: Tick, stream: 'server' }) },
        commands: { place: command({ input: Order, output: Receipt }) },
      });
      const order = sampleOrder();
      const cg = grpc(where.grpc);
      const ch = http(where.http, { connections: 64 });
      const courierGrpc = cg.client(Shop);
      const courierHttp = ch.client(Shop);
      const def = protoLoader.loadSync(protoPath, { keepCase: true, longs: Number, defaults: false, oneofs: false });
      const Svc = (grpcJs.loadPackageDefinition(def) as any).shop.Shop;
      const jsClient = new Svc(where.js, grpcJs.credentials.createInsecure());
      const check = (r: { accepted: boolean }) => {
        if (r.accepted !== true) throw new Error('unexpected receipt');
        return 1;
      };
      const unary = {
        courier_grpc: async () => check(await courierGrpc.place(order)),
        grpc_js: () =>
          new Promise<number>((resolve, reject) => jsClient.Place(order, (e: Error | null, r: any) => (e ? reject(e) : resolve(check(r))))),
        courier_http: async () => check(await courierHttp.place(order)),
      } as const;
      const N = 64;
      const stream = {
        courier_grpc: async () => {
          let n = 0;
          for await (const _ of await courierGrpc.ticks({ n: N })) n++;
          return n;
        },
        grpc_js: () =>
          new Promise<number>((resolve, reject) => {
            let n = 0;
            const call = jsClient.Ticks({ n: N });
            call.on('data', () => n++);
            call.on('end', () => resolve(n));
            call.on('error', reject);
          }),
      } as const;
      const serverCpu = () =>
        new Promise<number>((resolve) => {
          child!.once('message', (m: any) => resolve(m.cpu as number));
          child!.send('cpu');
        });
      const cpuNote = (m: Record<string, Medians>, names: readonly string[]) =>
        `CPU µs/call client+server: ${names.map((n) => `${n} ${round(m[n]!.clientCpu, 1)}+${round(m[n]!.serverCpu, 1)}`).join(', ')}`;
      const results: BenchResult[] = [];
      const names = ['courier_grpc', 'grpc_js', 'courier_http'] as const;
      for (const concurrency of concurrencies) {
        for (const n of names) await drive(unary[n], concurrency, 300); // warm up
        const m = await interleave(names, rounds, (n) => measure(unary[n], concurrency, ms, serverCpu));
        const vsJs = paired(m.courier_grpc, m.grpc_js);
        const vsHttp = paired(m.courier_grpc, m.courier_http);
        results.push(
          {
            name: `unary place (1.3 KB order), ${concurrency} in flight`,
            value: round(m.courier_grpc.rate, 0),
            unit: 'calls/s',
            anchor: '@grpc/grpc-js client + server',
            anchorValue: round(m.grpc_js.rate, 0),
            ratio: vsJs.median,
            note: `${concurrency === 64 ? 'target ≥ 2×; ' : ''}median of ${rounds} paired rounds (range ${vsJs.min}–${vsJs.max})`,
          },
          {
            name: `unary place vs Courier HTTP/1.1 JSON, ${concurrency} in flight`,
            value: round(m.courier_grpc.rate, 0),
            unit: 'calls/s',
            anchor: 'Courier HTTP/1.1 (fastify + undici)',
            anchorValue: round(m.courier_http.rate, 0),
            ratio: vsHttp.median,
            note: `${concurrency === 64 ? 'target ≥ 1×; ' : ''}paired range ${vsHttp.min}–${vsHttp.max}; ${cpuNote(m, names)}`,
          },
          {
            name: `unary CPU per call (client + server) vs Courier HTTP/1.1, ${concurrency} in flight`,
            value: round(m.courier_grpc.clientCpu + m.courier_grpc.serverCpu, 1),
            unit: 'µs',
            anchor: 'Courier HTTP/1.1 (fastify + undici)',
            anchorValue: round(m.courier_http.clientCpu + m.courier_http.serverCpu, 1),
            ratio: costRatio(m.courier_grpc.clientCpu + m.courier_grpc.serverCpu, m.courier_http.clientCpu + m.courier_http.serverCpu),
            note: 'both processes, user + system',
          },
        );
      }
      if (streaming) {
        const sNames = ['courier_grpc', 'grpc_js'] as const;
        for (const n of sNames) await drive(stream[n], 8, 300);
        const s = await interleave(sNames, rounds, (n) => measure(stream[n], 8, ms, serverCpu));
        const sVsJs = paired(s.courier_grpc, s.grpc_js);
        results.push({
          name: `server streaming (${N}-message streams, 8 in flight)`,
          value: round(s.courier_grpc.rate, 0),
          unit: 'msg/s',
          anchor: '@grpc/grpc-js',
          anchorValue: round(s.grpc_js.rate, 0),
          ratio: sVsJs.median,
          note: `median of ${rounds} paired rounds (range ${sVsJs.min}–${sVsJs.max})${pin ? '' : '; taskset missing: not pinned'}`,
        });
      }
      jsClient.close();
      await cg.close();
      await ch.close();
      return results;
    } finally {
      child?.kill();
      await shipped.cleanup();
    }
  },
};
