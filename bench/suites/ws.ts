/**
 * Courier over WebSocket against bare `ws` doing the same JSON request/response, in the same run, interleaved
 * (rounds rotate who goes first, median of rounds). Both servers run in this process (the machine is shared and
 * noisy; a child-process split is left for later), on loopback.
 * - courier: `WsServer` serving `bench.echo` (validated input) and `WsClientTransport` + `createClient`;
 * - anchor: a `ws` server that parses `{id, op, in}`, answers `{id, out}`; a client correlating by id in a Map.
 * Scenarios: 1 connection with 64 calls in flight; 100 connections with 1 call in flight each.
 * Figures: round trips/s and p99 latency (ms).
 */
import { WebSocket, WebSocketServer } from 'ws';
import { z } from 'zod';
import { command, service } from '../../src/core/contract.js';
import { createClient } from '../../src/sync/transport.js';
import { WsClientTransport } from '../../src/sync/ws/client.js';
import { WsServer } from '../../src/sync/ws/server.js';
import { median, percentile } from '../lib/measure.js';
import { type BenchResult, type Suite, costRatio, rateRatio, round } from '../lib/suite.js';

const Bench = service('bench', {
  commands: { echo: command({ input: z.object({ n: z.number(), s: z.string() }), output: z.object({ n: z.number(), s: z.string() }) }) },
});
type Call = () => Promise<unknown>;

class BareClient {
  private next = 1;
  private readonly pending = new Map<number, (v: unknown) => void>();
  constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      const m = JSON.parse((d as Buffer).toString('utf8')) as { id: number; out: unknown };
      const r = this.pending.get(m.id);
      this.pending.delete(m.id);
      r?.(m.out);
    });
  }
  call(input: unknown): Promise<unknown> {
    const id = this.next++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.ws.send(JSON.stringify({ id, op: 'bench.echo', in: input }));
    });
  }
}

async function drive(calls: readonly Call[], perCall: number, ms: number): Promise<{ rate: number; p99: number }> {
  const lat: number[] = [];
  let count = 0;
  const start = performance.now();
  const stop = start + ms;
  const loop = async (call: Call) => {
    while (performance.now() < stop) {
      const t = performance.now();
      await call();
      lat.push(performance.now() - t);
      count++;
    }
  };
  await Promise.all(calls.flatMap((c) => Array.from({ length: perCall }, () => loop(c))));
  return { rate: count / ((performance.now() - start) / 1000), p99: percentile(lat, 99) };
}

export const suite: Suite = {
  name: 'ws',
  description: 'Courier WS request/response vs bare ws JSON echo (same process, interleaved)',
  async run({ quick }) {
    const ms = quick ? 800 : 3000;
    const rounds = quick ? 3 : 7;
    const server = new WsServer({ idempotency: false, heartbeatMs: 0 });
    server.serve(Bench, { echo: async (i) => i });
    const url = await server.listen();
    const bare = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    await new Promise((r) => bare.once('listening', r));
    bare.on('connection', (s) =>
      s.on('message', (d) => {
        const m = JSON.parse((d as Buffer).toString('utf8')) as { id: number; in: unknown };
        s.send(JSON.stringify({ id: m.id, out: m.in }));
      }),
    );
    const bareUrl = `ws://127.0.0.1:${(bare.address() as { port: number }).port}`;
    const transports: WsClientTransport[] = [];
    const sockets: WebSocket[] = [];
    const input = { n: 1, s: 'hello courier' };
    const courierCalls = async (n: number): Promise<Call[]> => {
      const out: Call[] = [];
      for (let i = 0; i < n; i++) {
        const t = new WsClientTransport(url, { heartbeatMs: 0 });
        transports.push(t);
        await t.connect();
        const c = createClient(Bench, t);
        out.push(() => c.echo(input));
      }
      return out;
    };
    const bareCalls = async (n: number): Promise<Call[]> => {
      const out: Call[] = [];
      for (let i = 0; i < n; i++) {
        const ws = new WebSocket(bareUrl, { perMessageDeflate: false });
        sockets.push(ws);
        await new Promise((r) => ws.once('open', r));
        const c = new BareClient(ws);
        out.push(() => c.call(input));
      }
      return out;
    };
    const results: BenchResult[] = [];
    try {
      for (const [label, conns, perCall] of [
        ['1 connection, 64 in flight', 1, 64],
        ['100 connections, 1 in flight each', 100, 1],
      ] as const) {
        const contenders = { courier: await courierCalls(conns), bare: await bareCalls(conns) };
        await drive(contenders.courier, perCall, 200);
        await drive(contenders.bare, perCall, 200);
        const samples = { courier: [] as Array<{ rate: number; p99: number }>, bare: [] as Array<{ rate: number; p99: number }> };
        for (let r = 0; r < rounds; r++) {
          for (const name of r % 2 === 0 ? (['courier', 'bare'] as const) : (['bare', 'courier'] as const)) {
            samples[name].push(await drive(contenders[name], perCall, ms));
          }
        }
        const m = (name: 'courier' | 'bare') => ({
          rate: median(samples[name].map((s) => s.rate)),
          p99: median(samples[name].map((s) => s.p99)),
        });
        const c = m('courier');
        const b = m('bare');
        results.push(
          {
            name: `round trips/s, ${label}`,
            value: round(c.rate, 0),
            unit: 'calls/s',
            anchor: 'bare ws JSON echo',
            anchorValue: round(b.rate, 0),
            ratio: rateRatio(c.rate, b.rate),
            note: 'same process; shared machine, noisy',
          },
          {
            name: `p99 latency, ${label}`,
            value: round(c.p99, 3),
            unit: 'ms',
            anchor: 'bare ws JSON echo',
            anchorValue: round(b.p99, 3),
            ratio: costRatio(c.p99, b.p99),
          },
        );
      }
      return results;
    } finally {
      await Promise.all(transports.map((t) => t.close()));
      for (const s of sockets) s.terminate();
      await server.close();
      await new Promise((r) => bare.close(r));
    }
  },
};
