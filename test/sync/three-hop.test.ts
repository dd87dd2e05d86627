import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Context } from '../../src/core/context.js';
import { command, service } from '../../src/core/contract.js';
import { CancelledError, CourierError, DeadlineExceededError } from '../../src/core/errors.js';
import { grpc, grpcServer } from '../../src/sync/grpc/index.js';
import { http, httpServer } from '../../src/sync/http/index.js';
import { inproc } from '../../src/sync/inproc/index.js';
import { type ClientTransport, createClient } from '../../src/sync/transport.js';
import { ws, wsServer } from '../../src/sync/ws/index.js';
import { waitFor } from '../../src/testing/index.js';

/**
 * A → B → C (→ D) where each hop is a different transport. What must survive every hop: the deadline (each
 * callee sees a finite budget no larger than what its caller had left), the trace and correlation ids, and
 * cancellation: when A's deadline passes (or A cancels), every service down the chain has its `ctx.cancel`
 * fire and stops. The checks are on flags the services set, never on how long anything took.
 */
const Chain = service('chain', {
  commands: {
    step: command({
      input: z.object({ mode: z.enum(['observe', 'hold']) }),
      output: z.object({ seen: z.array(z.string()) }),
    }),
  },
});

type Kind = 'http' | 'ws' | 'grpc' | 'inproc';
type Handler = (input: { mode: 'observe' | 'hold' }, ctx: Context) => Promise<{ seen: string[] }>;

/** What one service of the chain saw. */
interface Level {
  readonly name: string;
  started: boolean;
  /** `Date.now()` and remaining budget on entry. */
  enteredAt: number;
  remainingAtEntry: number;
  /** Remaining budget just before calling the next service. */
  remainingAtCall: number;
  traceparent: string | undefined;
  correlationId: string | undefined;
  cancelReason: unknown;
  /** What the call to the next service failed with (hold mode). */
  downstreamError: unknown;
  /** The handler returned or threw (it stopped working). */
  stopped: boolean;
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** Serve `handler` as `Chain` over `kind`; returns a client transport to it. */
async function serveOver(kind: Kind, handler: Handler): Promise<ClientTransport> {
  if (kind === 'inproc') {
    const transport = inproc();
    transport.serve(Chain, { step: handler });
    closers.push(() => transport.close());
    return transport;
  }
  const server = kind === 'http' ? httpServer() : kind === 'grpc' ? grpcServer() : wsServer();
  server.serve(Chain, { step: handler });
  const address = await server.listen();
  const client = kind === 'http' ? http(address) : kind === 'grpc' ? grpc(address) : ws(address);
  closers.push(async () => {
    await client.close();
    await server.close();
  });
  return client;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Build the chain: `hops[i]` is the transport between service i and service i+1; service 0 is the test (A).
 * Returns the client A uses and what every other service saw.
 */
async function chain(hops: readonly Kind[]): Promise<{ client: ClientTransport; levels: Level[] }> {
  const names = ['B', 'C', 'D', 'E'];
  const levels: Level[] = hops.map((_, i) => ({
    name: names[i]!,
    started: false,
    enteredAt: 0,
    remainingAtEntry: NaN,
    remainingAtCall: NaN,
    traceparent: undefined,
    correlationId: undefined,
    cancelReason: undefined,
    downstreamError: undefined,
    stopped: false,
  }));
  // Built from the end: the last service holds or answers; every other one calls the next.
  let next: ClientTransport | undefined;
  for (let i = hops.length - 1; i >= 0; i--) {
    const level = levels[i]!;
    const downstream = next === undefined ? undefined : createClient(Chain, next);
    const handler: Handler = async (input, ctx) => {
      level.started = true;
      level.enteredAt = Date.now();
      level.remainingAtEntry = ctx.remaining();
      level.traceparent = ctx.traceparent;
      level.correlationId = ctx.correlationId;
      const stop = ctx.cancel.onCancel((reason) => (level.cancelReason = reason));
      try {
        if (downstream === undefined) {
          if (input.mode === 'hold') await new Promise<void>((resolve) => ctx.cancel.onCancel(() => resolve()));
          return { seen: [level.name] };
        }
        await pause(20); // some work of its own before the call: the budget it passes on is smaller
        level.remainingAtCall = ctx.remaining();
        // The handler's own context is the parent of the downstream call: deadline, cancel, trace, correlation.
        if (input.mode === 'observe') {
          const result = await downstream.step(input, { ctx });
          return { seen: [level.name, ...result.seen] };
        }
        // Holding: when the downstream call fails, this service keeps working (say, cleaning up) until its
        // own ctx.cancel tells it to stop, so the test sees that its own context was cancelled too.
        level.downstreamError = await downstream.step(input, { ctx }).then(
          () => undefined,
          (error: unknown) => error,
        );
        await new Promise<void>((resolve) => ctx.cancel.onCancel(() => resolve()));
        return { seen: [level.name] };
      } finally {
        stop();
        level.stopped = true;
      }
    };
    next = await serveOver(hops[i]!, handler);
  }
  return { client: next!, levels };
}

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';

const chains: ReadonlyArray<readonly Kind[]> = [
  ['http', 'inproc'],
  ['http', 'ws'],
  ['ws', 'http'],
  ['http', 'ws', 'inproc'],
  ['grpc', 'http'],
  ['http', 'grpc', 'ws'],
];

describe.each(chains.map((hops) => ({ hops, label: ['A', 'B', 'C', 'D'].slice(0, hops.length + 1).join(' → ') + ` over ${hops.join(', ')}` })))(
  '$label',
  ({ hops }) => {
    it('every service sees a finite deadline no later than what its caller had left, and the trace and correlation ids', async () => {
      const { client, levels } = await chain(hops);
      const budget = 5000;
      const parent = new Context({
        traceparent: `00-${TRACE_ID}-b7ad6b7169203331-01`,
        correlationId: 'order-991',
      });
      const result = await createClient(Chain, client).step({ mode: 'observe' }, { ctx: parent, timeoutMs: budget });
      expect(result.seen).toEqual(levels.map((l) => l.name));
      const first = levels[0]!;
      expect(first.remainingAtEntry).toBeGreaterThan(0);
      expect(first.remainingAtEntry).toBeLessThanOrEqual(budget);
      let spent = 0;
      for (let i = 1; i < levels.length; i++) {
        const caller = levels[i - 1]!;
        const callee = levels[i]!;
        expect(Number.isFinite(callee.remainingAtEntry), `${callee.name} got a deadline`).toBe(true);
        expect(callee.remainingAtEntry).toBeGreaterThan(0);
        // No more than the caller had left when it called...
        expect(callee.remainingAtEntry, `${callee.name} ≤ what ${caller.name} had left`).toBeLessThanOrEqual(caller.remainingAtCall);
        // ...and so no more than A's budget minus the time every service before it spent on the call. (Time
        // on the wire is not subtracted: a relative deadline overstates the budget by the transit time, see
        // src/sync/http/headers.ts, so only the services' own time is an exact bound.)
        spent += caller.remainingAtEntry - caller.remainingAtCall;
        expect(callee.remainingAtEntry).toBeLessThanOrEqual(budget - spent);
        expect(callee.remainingAtEntry).toBeLessThan(caller.remainingAtEntry);
      }
      for (const level of levels) {
        expect(level.traceparent?.slice(3, 35), `${level.name} is in A's trace`).toBe(TRACE_ID);
        expect(level.correlationId).toBe('order-991');
        expect(level.cancelReason).toBeUndefined();
      }
      // Every hop is a new span: no two services saw the same parent span id.
      expect(new Set(levels.map((l) => l.traceparent)).size).toBe(levels.length);
    });

    it("when A's deadline passes, every service down the chain has its ctx.cancel fire and stops", async () => {
      const { client, levels } = await chain(hops);
      const error = await createClient(Chain, client)
        .step({ mode: 'hold' }, { timeoutMs: 600 })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DeadlineExceededError);
      await waitFor(() => levels.every((l) => l.started), 'every service to have started');
      for (const level of levels) {
        await waitFor(() => level.cancelReason !== undefined, `${level.name}'s ctx.cancel`);
        await waitFor(() => level.stopped, `${level.name} to stop`);
        expect(level.cancelReason).toBeInstanceOf(CourierError);
        expect(['DEADLINE_EXCEEDED', 'CANCELLED']).toContain((level.cancelReason as CourierError).code);
      }
      for (const level of levels.slice(0, -1)) {
        expect(level.downstreamError, `${level.name}'s call down the chain failed`).toBeInstanceOf(CourierError);
        expect(['DEADLINE_EXCEEDED', 'CANCELLED']).toContain((level.downstreamError as CourierError).code);
      }
    });

    it('when A cancels, every service down the chain has its ctx.cancel fire and stops', async () => {
      const { client, levels } = await chain(hops);
      const { ctx, source } = new Context().withCancel();
      const call = createClient(Chain, client)
        .step({ mode: 'hold' }, { ctx })
        .catch((e: unknown) => e);
      const last = levels[levels.length - 1]!;
      await waitFor(() => last.started, 'the last service to start');
      source.cancel(new CancelledError('A gave up'));
      const error = await call;
      expect((error as CourierError).code).toBe('CANCELLED');
      for (const level of levels) {
        await waitFor(() => level.cancelReason !== undefined, `${level.name}'s ctx.cancel`);
        await waitFor(() => level.stopped, `${level.name} to stop`);
      }
    });
  },
);
