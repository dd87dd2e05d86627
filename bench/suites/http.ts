/**
 * Courier over HTTP against the stacks it is built from, in the same run, interleaved.
 *
 * Servers (each in its own child process, all pinned to core 0; the load runs in this process, pinned to
 * core 1, on 64 keep-alive sockets with one prebuilt request in flight each: `RawLoad`, cheap enough that
 * the server, not the load generator, is what limits the rate):
 * - courier: `httpServer` serving a contract: `POST /shop/place` (a ~1.3 KB order, validated against the
 *   contract) and `GET /shop/stock?sku=…` (query input, validated);
 * - fastify: the same two routes on bare fastify 5 with JSON Schema for body/querystring and response
 *   (its ajv validation and fast-json-stringify serialisation), the strongest setup a fastify user writes;
 * - raw: node:http with the same routes by hand (JSON.parse + ajv, JSON.stringify), the floor.
 * Figures: requests per second (median of rounds), and the server's CPU time per request (user + system of
 * the server process over the round / requests served), which holds even when the load generator, not the
 * server, is the bottleneck. Ratios are courier / fastify (throughput) and fastify / courier (CPU), each
 * the median of the per-round ratios (rounds are short, contenders interleaved with the first one rotating,
 * so both sides of a ratio ran within a second or two of each other), with their range in the note: other
 * processes on these shared 2-core machines come in bursts, and a ratio of whole-run medians swung
 * 0.36–2.55× between runs.
 *
 * Clients (against the raw server's cheap `POST /shop/reserve`, so the client is what is measured): the
 * Courier client (`http(url).client(Shop).reserve(…)`) against `Pool.request` + `body.json()` with the same
 * pool settings, at 1 and 64 calls in flight; throughput and this process's CPU per call.
 *
 * Courier is measured as it ships: src/ is transpiled to plain ES2022 JavaScript (`bench/lib/shipped.ts`)
 * and both the server child and the client load that.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { type Socket, connect } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Pool } from 'undici';
import { median } from '../lib/measure.js';
import { type Shipped, buildShipped } from '../lib/shipped.js';
import { type BenchResult, type Suite, round } from '../lib/suite.js';

const SERVE_FLAG = '--serve-http-bench';
type ServerKind = 'courier' | 'fastify' | 'raw';
const KINDS: readonly ServerKind[] = ['courier', 'fastify', 'raw'];
const CONCURRENCY = 64;

const load = (root: string, path: string): Promise<any> => import(pathToFileURL(join(root, path)).href);

/** The contract, order fixture and JSON Schemas, from a root of (transpiled) sources. */
async function fixtures(root: string) {
  const { z } = await import('zod');
  const { service, query, command } = await load(root, 'src/core/contract.js');
  const { toJsonSchema } = await load(root, 'src/schema/json-schema.js');
  const { Order, sampleOrder } = await load(root, 'test/schema/order-schema.js');
  const Receipt = z.object({ orderId: z.string(), accepted: z.boolean(), totalCents: z.number().int(), items: z.number().int() });
  const StockIn = z.object({ sku: z.string().min(1).max(32) });
  const StockOut = z.object({ sku: z.string(), qty: z.number().int() });
  const ReserveIn = z.object({ sku: z.string(), qty: z.number().int() });
  const ReserveOut = z.object({ ok: z.boolean(), qty: z.number().int() });
  const Shop = service('shop', {
    queries: { stock: query({ input: StockIn, output: StockOut }) },
    commands: {
      place: command({ input: Order, output: Receipt }),
      reserve: command({ input: ReserveIn, output: ReserveOut }),
    },
  });
  const schema = (s: unknown) => {
    const { $schema: _dialect, ...rest } = toJsonSchema(s);
    return rest as Record<string, unknown>;
  };
  return {
    Shop,
    order: (sampleOrder as () => { orderId: string; totalCents: number; items: unknown[] })(),
    schemas: { order: schema(Order), receipt: schema(Receipt), stockIn: schema(StockIn), stockOut: schema(StockOut) },
  };
}

const receiptOf = (o: { orderId: string; totalCents: number; items: unknown[] }) => ({
  orderId: o.orderId,
  accepted: true,
  totalCents: o.totalCents,
  items: o.items.length,
});

// ------------------------------------------------------------------------------------------------ servers

async function startCourier(root: string): Promise<number> {
  const { httpServer } = await load(root, 'src/sync/http/server.js');
  const { Shop } = await fixtures(root);
  const server = httpServer({ host: '127.0.0.1', port: 0, idempotency: false });
  server.serve(Shop, {
    place: async (order: any) => receiptOf(order),
    stock: async (q: { sku: string }) => ({ sku: q.sku, qty: 7 }),
    reserve: async (r: { qty: number }) => ({ ok: true, qty: r.qty }),
  });
  await server.listen();
  return Number(new URL(server.url).port);
}

async function startFastify(root: string): Promise<number> {
  const { fastify } = await import('fastify');
  const { schemas } = await fixtures(root);
  const app = fastify({ logger: false });
  app.post('/shop/place', { schema: { body: schemas.order, response: { 200: schemas.receipt } } }, async (request) =>
    receiptOf(request.body as any),
  );
  app.get('/shop/stock', { schema: { querystring: schemas.stockIn, response: { 200: schemas.stockOut } } }, async (request) => ({
    sku: (request.query as { sku: string }).sku,
    qty: 7,
  }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  return (app.server.address() as { port: number }).port;
}

async function startRaw(root: string): Promise<number> {
  const { Ajv2020 } = await import('ajv/dist/2020.js');
  const { schemas } = await fixtures(root);
  const ajv = new Ajv2020({ strict: false, validateFormats: false });
  const validOrder = ajv.compile(schemas.order);
  const validStock = ajv.compile(schemas.stockIn);
  const json = (res: ServerResponse, status: number, body: string) => {
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    if (req.method === 'GET' && url.startsWith('/shop/stock?')) {
      const input = Object.fromEntries(new URLSearchParams(url.slice(12)));
      if (!validStock(input)) return json(res, 400, '{"error":"invalid"}');
      return json(res, 200, JSON.stringify({ sku: input['sku'], qty: 7 }));
    }
    if (req.method !== 'POST') return json(res, 404, '{}');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: any;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return json(res, 400, '{"error":"json"}');
      }
      if (url === '/shop/place') {
        if (!validOrder(body)) return json(res, 400, '{"error":"invalid"}');
        return json(res, 200, JSON.stringify(receiptOf(body as any)));
      }
      if (url === '/shop/reserve') return json(res, 200, JSON.stringify({ ok: true, qty: body.qty }));
      json(res, 404, '{}');
    });
  });
  // Node's default (5 s) closes the load's idle sockets while the other servers are measured in full mode.
  server.keepAliveTimeout = 600_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/** Child process entry: start one server, report its port, answer CPU-usage queries over IPC. */
async function serveForBench(kind: ServerKind): Promise<void> {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const port = kind === 'courier' ? await startCourier(root) : kind === 'fastify' ? await startFastify(root) : await startRaw(root);
  process.on('message', (message) => {
    if (message === 'cpu') process.send!({ cpu: process.cpuUsage() });
  });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0)); // a clean exit, so that --cpu-prof writes its profile
  process.send!({ port });
}

interface ServerChild {
  readonly kind: ServerKind;
  readonly child: ChildProcess;
  readonly url: string;
  cpuMicros(): Promise<number>;
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function spawnServer(shipped: Shipped, kind: ServerKind, pin: boolean): Promise<ServerChild> {
  const script = join(shipped.root, 'bench', 'suites', 'http.js');
  // COURIER_BENCH_CHILD_NODE_ARGS adds Node flags to the server children (e.g. `--cpu-prof`), as for the broker suite.
  const nodeArgs = (process.env.COURIER_BENCH_CHILD_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const args = [...nodeArgs, script, SERVE_FLAG, kind];
  const child = pin
    ? spawn('taskset', ['-c', '0', process.execPath, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    : spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
    child.once('message', (m: any) => resolve(m.port as number));
  });
  child.removeAllListeners('exit');
  const cpuMicros = () =>
    new Promise<number>((resolve) => {
      child.once('message', (m: any) => resolve((m.cpu.user as number) + (m.cpu.system as number)));
      child.send('cpu');
    });
  return { kind, child, url: `http://127.0.0.1:${port}`, cpuMicros };
}

// ------------------------------------------------------------------------------------------------- load

/** Run `call` from `concurrency` loops for `ms`; returns completed calls and the wall time. */
async function drive(call: () => Promise<unknown>, concurrency: number, ms: number): Promise<{ count: number; seconds: number }> {
  let count = 0;
  const start = process.hrtime.bigint();
  const stopAt = start + BigInt(ms) * 1_000_000n;
  const loop = async () => {
    while (process.hrtime.bigint() < stopAt) {
      await call();
      count++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { count, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

interface Sample {
  readonly rate: number;
  /** CPU µs per call: the server's for server rows, this process's for client rows. */
  readonly cpuPerCall: number;
}

async function measureServer(server: ServerChild, load: RawLoad, request: Buffer, ms: number): Promise<Sample> {
  const before = await server.cpuMicros();
  const { count, seconds } = await load.run(request, ms);
  const after = await server.cpuMicros();
  return { rate: count / seconds, cpuPerCall: (after - before) / count };
}

/**
 * The load for the server rows: `CONCURRENCY` keep-alive sockets, each sending one prebuilt request and
 * reading its whole response (status 200 checked, Content-Length framed) before the next, no pipelining.
 * A few µs of this process's CPU per request, where an undici Pool spends ~30–40 µs: with undici the load
 * generator on its one core was as slow as the servers (every server measured ~22k req/s on a quiet
 * machine), so the throughput rows compared the client with itself.
 */
class RawLoad {
  private readonly sockets: Socket[] = [];

  private constructor(private readonly port: number, private readonly host: string) {}

  static async open(url: string, connections: number): Promise<RawLoad> {
    const { hostname, port } = new URL(url);
    const load = new RawLoad(Number(port), hostname);
    for (let i = 0; i < connections; i++) {
      const socket = connect(load.port, load.host);
      socket.setNoDelay(true);
      await once(socket, 'connect');
      load.sockets.push(socket);
    }
    return load;
  }

  /** Send `request` on every socket, one at a time per socket, until `ms` passed. */
  async run(request: Buffer, ms: number): Promise<{ count: number; seconds: number }> {
    let count = 0;
    const start = process.hrtime.bigint();
    const stopAt = start + BigInt(ms) * 1_000_000n;
    await Promise.all(
      this.sockets.map(
        (socket) =>
          new Promise<void>((resolve, reject) => {
            let pending: Buffer | undefined;
            const finish = (error?: Error): void => {
              socket.off('data', onData);
              socket.off('error', finish);
              socket.off('close', closed);
              if (error === undefined) resolve();
              else reject(error);
            };
            const onData = (chunk: Buffer): void => {
              const data = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
              const headEnd = data.indexOf('\r\n\r\n');
              if (headEnd < 0) {
                pending = data;
                return;
              }
              const head = data.toString('latin1', 0, headEnd).toLowerCase();
              const length = /\r\ncontent-length: *(\d+)/.exec(head);
              if (length === null) return finish(new Error(`response without content-length: ${head}`));
              const total = headEnd + 4 + Number(length[1]);
              if (data.length < total) {
                pending = data;
                return;
              }
              pending = undefined;
              if (data.length > total) return finish(new Error('bytes after the response'));
              if (!head.startsWith('http/1.1 200 ')) return finish(new Error(`${head.split('\r\n')[0]}: ${data.toString('utf8', headEnd + 4)}`));
              count++;
              if (process.hrtime.bigint() < stopAt) socket.write(request);
              else finish();
            };
            // A socket the server closed would otherwise leave this promise pending and the run silently over.
            const closed = (): void => finish(new Error('the server closed a load socket'));
            socket.on('data', onData);
            socket.on('error', finish);
            socket.on('close', closed);
            socket.write(request);
          }),
      ),
    );
    return { count, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
  }

  close(): void {
    for (const socket of this.sockets) socket.destroy();
  }
}

async function measureClient(call: () => Promise<unknown>, concurrency: number, ms: number): Promise<Sample> {
  const before = process.cpuUsage();
  const { count, seconds } = await drive(call, concurrency, ms);
  const used = process.cpuUsage(before);
  return { rate: count / seconds, cpuPerCall: (used.user + used.system) / count };
}

interface Medians {
  readonly rate: number;
  readonly cpu: number;
  /** Every round's sample, in round order (rounds are paired across contenders). */
  readonly samples: readonly Sample[];
}

async function interleave<K extends string>(
  names: readonly K[],
  rounds: number,
  measureOne: (name: K) => Promise<Sample>,
): Promise<Record<K, Medians>> {
  const samples = new Map<K, Sample[]>(names.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(r + k) % names.length]!; // rotate who goes first
      samples.get(name)!.push(await measureOne(name));
    }
  }
  const out = {} as Record<K, Medians>;
  for (const [name, s] of samples) out[name] = { rate: median(s.map((x) => x.rate)), cpu: median(s.map((x) => x.cpuPerCall)), samples: s };
  return out;
}

/**
 * Ratios of two contenders round by round (each round measures both within a few seconds, so a burst of
 * load from other processes on these shared machines hits both), and their median and range. The median of
 * paired ratios is far steadier than the ratio of two medians taken over the whole run.
 */
function paired(a: Medians, b: Medians, ratio: (x: Sample, y: Sample) => number): { median: number; min: number; max: number } {
  const r = a.samples.map((x, i) => ratio(x, b.samples[i]!));
  return { median: round(median(r), 3), min: round(Math.min(...r), 2), max: round(Math.max(...r), 2) };
}

const rateOf = (x: Sample, y: Sample): number => x.rate / y.rate;
const cpuOf = (x: Sample, y: Sample): number => y.cpuPerCall / x.cpuPerCall;

// ------------------------------------------------------------------------------------------------ suite

export const suite: Suite = {
  name: 'http',
  description: 'Courier REST server vs bare fastify vs node:http; Courier client vs undici Pool.request',
  async run({ quick }) {
    // Many short paired rounds rather than a few long ones: the ratio is taken per round (see `paired`).
    const ms = quick ? 500 : 2000;
    const rounds = quick ? 7 : 11;
    const shipped = await buildShipped();
    const pin = hasTaskset();
    if (pin) execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
    const servers = new Map<ServerKind, ServerChild>();
    const pools: Pool[] = [];
    const opened: RawLoad[] = [];
    try {
      for (const kind of KINDS) servers.set(kind, await spawnServer(shipped, kind, pin));
      const { Shop, order } = await fixtures(shipped.root);
      const orderJson = JSON.stringify(order);
      const host = (kind: ServerKind) => new URL(servers.get(kind)!.url).host;
      const placeRequest = (kind: ServerKind) =>
        Buffer.from(
          `POST /shop/place HTTP/1.1\r\nhost: ${host(kind)}\r\ncontent-type: application/json\r\n` +
            `content-length: ${Buffer.byteLength(orderJson)}\r\n\r\n${orderJson}`,
        );
      const stockRequest = (kind: ServerKind) => Buffer.from(`GET /shop/stock?sku=ABC-1001 HTTP/1.1\r\nhost: ${host(kind)}\r\n\r\n`);
      const loads = new Map<ServerKind, RawLoad>();
      for (const kind of KINDS) {
        const load = await RawLoad.open(servers.get(kind)!.url, CONCURRENCY);
        loads.set(kind, load);
        opened.push(load);
        // Warm up: JIT and the heap of both sides (300 ms left the first rounds of a run visibly slower).
        await load.run(placeRequest(kind), quick ? 800 : 2000);
        await load.run(stockRequest(kind), quick ? 800 : 2000);
      }
      const results: BenchResult[] = [];
      for (const [label, request] of [
        [`POST /shop/place (${Buffer.byteLength(orderJson)} B order, validated)`, placeRequest],
        ['GET /shop/stock?sku= (query, validated)', stockRequest],
      ] as const) {
        const m = await interleave(KINDS, rounds, (kind) => measureServer(servers.get(kind)!, loads.get(kind)!, request(kind), ms));
        const vsFastify = paired(m.courier, m.fastify, rateOf);
        const cpuVsFastify = paired(m.courier, m.fastify, cpuOf);
        const vsRaw = paired(m.courier, m.raw, rateOf);
        results.push(
          {
            name: `server ${label}`,
            value: round(m.courier.rate, 0),
            unit: 'req/s',
            anchor: 'bare fastify 5 (schema + response schema)',
            anchorValue: round(m.fastify.rate, 0),
            ratio: vsFastify.median,
            note:
              `target ≥ 1.0×; ratio = median of ${rounds} paired rounds (range ${vsFastify.min}–${vsFastify.max}); ` +
              `raw node:http ${Math.round(m.raw.rate)} req/s (courier ${vsRaw.median}× of raw)`,
          },
          {
            name: `server CPU per request, ${label}`,
            value: round(m.courier.cpu, 1),
            unit: 'µs',
            anchor: 'bare fastify 5',
            anchorValue: round(m.fastify.cpu, 1),
            ratio: cpuVsFastify.median,
            note: `paired rounds range ${cpuVsFastify.min}–${cpuVsFastify.max}; raw node:http ${round(m.raw.cpu, 1)} µs`,
          },
        );
      }

      // Clients, against the raw server's cheap route.
      const raw = servers.get('raw')!;
      const { http } = await load(shipped.root, 'src/sync/http/client.js');
      const transport = http(raw.url, { connections: CONCURRENCY });
      const shop = transport.client(Shop);
      const anchorPool = new Pool(raw.url, { connections: CONCURRENCY });
      pools.push(anchorPool);
      const input = { sku: 'ABC-1001', qty: 2 };
      const courierCall = async () => {
        const out = await shop.reserve(input);
        if (out.ok !== true) throw new Error('unexpected output');
      };
      const undiciCall = async () => {
        const { statusCode, body } = await anchorPool.request({
          path: '/shop/reserve',
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(input),
        });
        const out = (await body.json()) as { ok: boolean };
        if (statusCode !== 200 || out.ok !== true) throw new Error('unexpected output');
      };
      for (const concurrency of [1, CONCURRENCY]) {
        await drive(courierCall, concurrency, 500);
        await drive(undiciCall, concurrency, 500);
        const m = await interleave(['courier', 'undici'] as const, rounds, (name) =>
          measureClient(name === 'courier' ? courierCall : undiciCall, concurrency, ms),
        );
        const vsUndici = paired(m.courier, m.undici, rateOf);
        const cpuVsUndici = paired(m.courier, m.undici, cpuOf);
        results.push(
          {
            name: `client POST, ${concurrency} in flight`,
            value: round(m.courier.rate, 0),
            unit: 'calls/s',
            anchor: 'undici Pool.request + body.json()',
            anchorValue: round(m.undici.rate, 0),
            ratio: vsUndici.median,
            note: `target ≥ 0.9×; median of ${rounds} paired rounds (range ${vsUndici.min}–${vsUndici.max})`,
          },
          {
            name: `client CPU per call, ${concurrency} in flight`,
            value: round(m.courier.cpu, 1),
            unit: 'µs',
            anchor: 'undici Pool.request',
            anchorValue: round(m.undici.cpu, 1),
            ratio: cpuVsUndici.median,
            note: `load process CPU (user+system) per call; paired rounds range ${cpuVsUndici.min}–${cpuVsUndici.max}`,
          },
        );
      }
      await transport.close();
      if (!pin) results[0] = { ...results[0]!, note: `${results[0]!.note ?? ''}; taskset missing: not pinned` };
      return results;
    } finally {
      for (const load of opened) load.close();
      await Promise.all(pools.map((p) => p.close()));
      for (const server of servers.values()) server.child.kill();
      await shipped.cleanup();
    }
  },
};

if (process.argv[2] === SERVE_FLAG) await serveForBench(process.argv[3] as ServerKind);
