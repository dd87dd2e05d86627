import assert from 'node:assert/strict';
import { z } from 'zod';
import { Context } from '../../core/context.js';
import { type Client, command, service } from '../../core/contract.js';
import {
  BulkheadRejectedError,
  CancelledError,
  ClosedError,
  CourierError,
  DeadlineExceededError,
  MessageTooLargeError,
  RateLimitedError,
  TimeoutError,
  ValidationError,
} from '../../core/errors.js';
import { IdempotencyConflictError, IdempotencyKeyReusedError } from '../../reliability/idempotency/errors.js';
import { MemoryIdempotencyStore } from '../../reliability/idempotency/memory-store.js';
import type { BeginResult, IdempotencyRecord, IdempotencyStore } from '../../reliability/idempotency/store.js';
import { BadRequestError, InternalError, NotFoundError, UnavailableError } from '../../sync/errors.js';
import { type ClientTransport, createClient } from '../../sync/transport.js';
import { sleep, waitFor } from '../broker-conformance/support.js';
import {
  type ConformanceContract,
  type EchoInput,
  OutOfStockError,
  Probe,
  type Tick,
  conformanceContract,
  conformanceImplementation,
  streamingContract,
  streamingImplementation,
} from './contract.js';
import type { TransportConformanceOptions, TransportFeatures, TransportHarness } from './index.js';

/**
 * The transport conformance cases. Each states one thing every sync transport guarantees and checks it
 * through a real client and server of the transport under test. `requires` names the manifest feature a
 * case needs: without it the case is registered as skipped with the reason.
 *
 * No case asserts how long something took. Where a case must wait for the far side it polls an observable
 * flag of the server's `Probe` (with a generous bound), never a duration.
 */
export interface TransportCase {
  readonly name: string;
  readonly requires?: 'streaming' | 'maxInputBytes';
  run(env: CaseEnvironment): Promise<void>;
}

export interface OpenedCase {
  /** The typed client of `conformanceContract` over the harness's client transport. */
  readonly client: Client<ConformanceContract>;
  readonly transport: ClientTransport;
  readonly harness: TransportHarness;
  readonly probe: Probe;
  /** Every `begin` the server's idempotency store answered, in order. */
  readonly begins: BeginResult[];
}

/** What a case gets: a way to start the transport under test (closed again after the case). */
export class CaseEnvironment {
  private readonly closers: Array<() => Promise<void>> = [];

  constructor(private readonly options: TransportConformanceOptions) {}

  get features(): TransportFeatures {
    return this.options.features;
  }

  /** Serve `conformanceContract` and connect a client. `waitMs` is how long in-flight duplicates wait. */
  async open(settings: { waitMs?: number } = {}): Promise<OpenedCase> {
    const probe = new Probe();
    const begins: BeginResult[] = [];
    const inner = this.options.idempotencyStore?.() ?? new MemoryIdempotencyStore();
    this.closers.push(() => inner.close());
    const store = new RecordingStore(inner, begins);
    const harness = await this.options.setup(conformanceContract, conformanceImplementation(probe), {
      idempotency: { store, waitMs: settings.waitMs ?? 10_000 },
      maxInputBytes: this.options.features.maxInputBytes,
    });
    this.closers.push(() => harness.close());
    return { client: createClient(conformanceContract, harness.client), transport: harness.client, harness, probe, begins };
  }

  /** Serve `streamingContract`. */
  async openStream(): Promise<{ harness: TransportHarness; probe: Probe }> {
    const probe = new Probe();
    const harness = await this.options.setup(streamingContract, streamingImplementation(probe), {
      maxInputBytes: this.options.features.maxInputBytes,
    });
    this.closers.push(() => harness.close());
    return { harness, probe };
  }

  /** Close what the case opened, newest first; the first failure is rethrown after all ran. */
  async closeAll(): Promise<void> {
    let failed = false;
    let failure: unknown;
    for (const close of this.closers.reverse()) {
      try {
        await close();
      } catch (error) {
        if (!failed) failure = error;
        failed = true;
      }
    }
    this.closers.length = 0;
    if (failed) throw failure;
  }
}

/** An idempotency store that remembers what `begin` answered, so cases can see a duplicate waiting. */
class RecordingStore implements IdempotencyStore {
  constructor(
    private readonly inner: IdempotencyStore,
    private readonly begins: BeginResult[],
  ) {}
  async begin(key: string, fingerprint: string, now: number, leaseUntil: number): Promise<BeginResult> {
    const result = await this.inner.begin(key, fingerprint, now, leaseUntil);
    this.begins.push(result);
    return result;
  }
  complete(key: string, token: string, record: IdempotencyRecord): Promise<boolean> {
    return this.inner.complete(key, token, record);
  }
  release(key: string, token: string): Promise<void> {
    return this.inner.release(key, token);
  }
  peek(key: string, now: number): Promise<Exclude<BeginResult, { state: 'claimed' }> | undefined> {
    return this.inner.peek(key, now);
  }
  purgeExpired(now: number): Promise<number> {
    return this.inner.purgeExpired(now);
  }
  close(): Promise<void> {
    // The environment closes the inner store after the server.
    return Promise.resolve();
  }
}

/** The error `promise` rejects with; fails the case when it resolves. */
export async function rejection(promise: Promise<unknown>, what: string): Promise<unknown> {
  try {
    const value = await promise;
    assert.fail(`${what}: expected a rejection, got ${JSON.stringify(value)}`);
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    return error;
  }
}

function describeError(error: unknown): string {
  if (error instanceof CourierError) return `${error.constructor.name} ${error.code}: ${error.message}`;
  return String(error);
}

function assertInstance<T>(error: unknown, type: abstract new (...args: any[]) => T, what: string): asserts error is T {
  assert.ok(error instanceof type, `${what}: expected ${type.name}, got ${describeError(error)}`);
}

/** A follow-up call proving the server still serves after whatever the case did. */
async function stillServes(opened: OpenedCase): Promise<void> {
  const view = await opened.client.inspect({ label: 'after' });
  assert.equal(view.operation, 'conformance.inspect', 'the server serves again after the failure');
}

/** Wait until `value()` stops changing (or reaches `limit`): the producer has stalled or finished. */
async function quiescent(value: () => number, limit: number): Promise<number> {
  let last = -1;
  let stableFor = 0;
  const bound = Date.now() + 10_000;
  while (stableFor < 12 && Date.now() < bound) {
    await sleep(25);
    const now = value();
    if (now >= limit) return now;
    stableFor = now === last ? stableFor + 1 : 0;
    last = now;
  }
  return value();
}

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

/** A service the server under test does not host. */
const missing = service('conformanceMissing', {
  commands: { nothing: command({ input: z.object({}), output: z.object({}) }) },
});

export const transportCases: readonly TransportCase[] = [
  {
    name: 'typed Courier errors cross the wire as the same class, with code, message, details and fields',
    async run(env) {
      const opened = await env.open();
      const { client } = opened;
      const oos = await rejection(client.fail({ kind: 'out-of-stock' }), 'out-of-stock');
      assertInstance(oos, OutOfStockError, 'an application error registered with registerErrorType');
      assert.equal(oos.code, 'CONFORMANCE_OUT_OF_STOCK');
      assert.equal(oos.message, 'only 2 of A-1 left');
      assert.deepEqual(oos.details, { sku: 'A-1', available: 2 });
      assert.equal(oos.sku, 'A-1');
      assert.equal(oos.retryable, false);

      const limited = await rejection(client.fail({ kind: 'rate-limited' }), 'rate-limited');
      assertInstance(limited, RateLimitedError, 'RateLimitedError');
      assert.equal(limited.code, 'RATE_LIMITED');
      assert.equal(limited.retryAfterMs, 1500);
      assert.equal(limited.retryable, true);
      assert.equal(limited.message, 'rate limited; retry after 1500 ms');
      assert.deepEqual(limited.details, { bucket: 'orders' });

      const timedOut = await rejection(client.fail({ kind: 'timeout' }), 'timeout');
      assertInstance(timedOut, TimeoutError, 'TimeoutError');
      assert.equal(timedOut.timeoutMs, 250, 'constructor fields travel');
      assert.equal(timedOut.retryable, true);

      const full = await rejection(client.fail({ kind: 'bulkhead' }), 'bulkhead');
      assertInstance(full, BulkheadRejectedError, 'BulkheadRejectedError');
      assert.deepEqual([full.maxConcurrent, full.maxQueue], [4, 8]);
      assert.equal(opened.probe.count('fail'), 4);
      await stillServes(opened);
    },
  },
  {
    name: 'an unregistered code arrives as a CourierError with that code; a non-Courier error as InternalError without its message',
    async run(env) {
      const opened = await env.open();
      const unregistered = await rejection(opened.client.fail({ kind: 'unregistered' }), 'unregistered');
      assertInstance(unregistered, CourierError, 'an unregistered code');
      assert.equal(unregistered.code, 'CONFORMANCE_UNREGISTERED');
      assert.equal(unregistered.message, 'a code nobody registered');
      assert.deepEqual(unregistered.details, { n: 1 });

      const bug = await rejection(opened.client.fail({ kind: 'bug' }), 'bug');
      assertInstance(bug, InternalError, 'a handler bug');
      assert.equal(bug.code, 'INTERNAL');
      assert.ok(!bug.message.includes('hunter2'), `the handler's own message must not leak: "${bug.message}"`);
      await stillServes(opened);
    },
  },
  {
    name: 'an output that cannot be serialised is InternalError, answered at once; the server keeps serving',
    async run(env) {
      const opened = await env.open();
      // No deadline: a transport that never answers would hang here until the case times out.
      const error = await rejection(opened.client.fail({ kind: 'bad-output' }), 'a cyclic output');
      assertInstance(error, InternalError, 'an output JSON cannot encode');
      assert.equal(error.code, 'INTERNAL');
      await stillServes(opened);
    },
  },
  {
    name: 'after the client transport is closed, calls reject with ClosedError',
    async run(env) {
      const opened = await env.open();
      await stillServes(opened);
      await opened.transport.close();
      const error = await rejection(opened.client.inspect({ label: 'closed' }), 'a call after close');
      assertInstance(error, ClosedError, 'a call after close');
      assert.equal(error.code, 'CLOSED');
      assert.equal(opened.probe.count('inspect'), 1, 'the call after close never reached the server');
    },
  },
  {
    name: 'an operation the server does not host is NotFoundError',
    async run(env) {
      const opened = await env.open();
      const op = missing.commands.nothing;
      const error = await rejection(
        opened.transport.call(op, {}, new Context({ operation: 'conformanceMissing.nothing' })),
        'unknown operation',
      );
      assertInstance(error, NotFoundError, 'an unknown operation');
      assert.equal(error.code, 'NOT_FOUND');
      await stillServes(opened);
    },
  },
  {
    name: 'invalid input is ValidationError naming the failing path; the handler does not run; the server keeps serving',
    async run(env) {
      const opened = await env.open();
      const { client, probe } = opened;
      const bad = { order: { id: 'o-1', items: [{ sku: 'A', qty: 1 }, { sku: 'B', qty: 0 }] } };
      const error = await rejection(client.place(bad), 'qty 0');
      assertInstance(error, ValidationError, 'a body input with qty 0');
      assert.equal(error.code, 'VALIDATION_FAILED');
      assert.deepEqual(error.path, ['order', 'items', 1, 'qty']);
      assert.ok(error.message.includes('order.items[1].qty'), `the message names the path: "${error.message}"`);
      assert.equal(error.retryable, false);

      const wrongType = await rejection(client.place({ order: { id: 7, items: [] } } as never), 'id a number');
      assertInstance(wrongType, ValidationError, 'a body input with a number for a string');
      assert.deepEqual(wrongType.path, ['order', 'id']);
      assert.equal(probe.count('place'), 0, 'the handler never saw invalid input');

      assert.deepEqual(await client.place({ order: { id: 'o-2', items: [{ sku: 'A', qty: 2 }, { sku: 'B', qty: 1 }] } }), {
        lines: 2,
      });
      assert.equal(probe.count('place'), 1);
    },
  },
  {
    name: 'invalid input of a query is ValidationError naming the field; the server keeps serving',
    async run(env) {
      const opened = await env.open();
      const error = await rejection(opened.client.inspect({ label: 'x', n: 1.5 }), 'n 1.5');
      assertInstance(error, ValidationError, 'a query input with a fraction for an integer');
      assert.deepEqual(error.path, ['n']);
      assert.equal(opened.probe.count('inspect'), 0);
      await stillServes(opened);
    },
  },
  {
    name: 'inputs arrive as sent: text with URL and JSON metacharacters, numbers, booleans, arrays (empty too)',
    async run(env) {
      const { client } = await env.open();
      const inputs: EchoInput[] = [
        { text: 'a&b=c+d ü 😀 %20 #x ?y\n"\\', tags: ['a,b', '', 'c=d&e'] },
        { text: '', tags: [] },
        { text: '42', n: 0, flag: false, tags: ['1', 'true'] },
        { text: 'true', n: -1.5e-7, flag: true, tags: ['only'] },
      ];
      for (const input of inputs) {
        assert.deepEqual(await client.echo(input), input, `echo of ${JSON.stringify(input)}`);
      }
    },
  },
  {
    name: "the callee sees the caller's deadline: a finite budget no larger than the caller's",
    async run(env) {
      const { client } = await env.open();
      const short = await client.inspect({ label: 'short' }, { timeoutMs: 3000 });
      assert.notEqual(short.remainingMs, null, 'the deadline reached the callee');
      assert.ok(short.remainingMs! > 0 && short.remainingMs! <= 3000, `remaining ${short.remainingMs} ms of a 3000 ms budget`);
      const long = await client.inspect({ label: 'long' }, { timeoutMs: 600_000 });
      assert.ok(
        long.remainingMs! > 3000 && long.remainingMs! <= 600_000,
        `remaining ${long.remainingMs} ms of a 600000 ms budget: the value travels, not a default`,
      );
      const parent = new Context().withTimeout(5000);
      const nested = await client.inspect({ label: 'nested' }, { ctx: parent, timeoutMs: 900_000 });
      assert.ok(nested.remainingMs! <= 5000, `a call cannot extend its context's deadline (got ${nested.remainingMs} ms)`);
      const none = await client.inspect({ label: 'none' });
      assert.equal(none.remainingMs, null, 'no deadline is invented when the caller set none');
    },
  },
  {
    name: "when the caller's deadline passes, the callee's ctx.cancel fires and the caller gets DeadlineExceededError",
    async run(env) {
      const opened = await env.open();
      const record = opened.probe.hold('deadline');
      const error = await rejection(opened.client.hold({ id: 'deadline' }, { timeoutMs: 300 }), 'hold past the deadline');
      assertInstance(error, DeadlineExceededError, 'the caller');
      assert.equal(record.started, true, 'the callee started');
      await waitFor(() => record.cancelReason !== undefined, "the callee's ctx.cancel");
      assertInstance(record.cancelReason, CourierError, "the callee's cancel reason");
      assert.ok(
        ['DEADLINE_EXCEEDED', 'CANCELLED'].includes(record.cancelReason.code),
        `cancelled by the deadline or the caller's disconnect, got ${record.cancelReason.code}`,
      );
      await waitFor(() => record.finished, 'the callee to stop');
      await stillServes(opened);
    },
  },
  {
    name: 'a call whose deadline has already passed is never started',
    async run(env) {
      const opened = await env.open();
      const op = conformanceContract.commands.hold;
      for (const deadline of [Date.now() - 1000, Date.now()]) {
        const ctx = new Context({ deadline, operation: 'conformance.hold' });
        const error = await rejection(opened.transport.call(op, { id: 'late' }, ctx), 'an expired call');
        assertInstance(error, DeadlineExceededError, 'an expired call');
      }
      assert.equal(opened.probe.count('hold'), 0, 'the handler never ran');
      await stillServes(opened);
    },
  },
  {
    name: "cancelling the caller's context cancels the callee",
    async run(env) {
      const opened = await env.open();
      const record = opened.probe.hold('cancel');
      const { ctx, source } = Context.background.withCancel();
      const call = rejection(opened.client.hold({ id: 'cancel' }, { ctx }), 'a cancelled call');
      await waitFor(() => record.started, 'the callee to start');
      const reason = new CancelledError('the caller gave up');
      source.cancel(reason);
      const error = await call;
      assertInstance(error, CourierError, 'the cancelled caller');
      assert.equal(error.code, 'CANCELLED');
      await waitFor(() => record.cancelReason !== undefined, "the callee's ctx.cancel");
      await waitFor(() => record.finished, 'the callee to stop');
      await stillServes(opened);
    },
  },
  {
    name: 'the same idempotency key twice has one effect and returns the same response',
    async run(env) {
      const opened = await env.open();
      const { client, probe } = opened;
      const first = await client.effect({ id: 'e', amount: 5 }, { idempotencyKey: 'key-same-1' });
      const second = await client.effect({ id: 'e', amount: 5 }, { idempotencyKey: 'key-same-1' });
      assert.deepEqual(second, first, 'the replay is the stored response');
      assert.equal(first.ctx.idempotencyKey, 'key-same-1', 'the key reached the callee');
      assert.equal(probe.totals.get('e'), 5, 'one effect');
      assert.equal(probe.count('effect'), 1, 'the handler ran once');
      const other = await client.effect({ id: 'e', amount: 5 }, { idempotencyKey: 'key-same-2' });
      assert.equal(other.total, 10, 'another key is another request');
      assert.equal(other.serial, 2);
    },
  },
  {
    name: 'a key reused with a different payload is IdempotencyKeyReusedError and changes nothing',
    async run(env) {
      const opened = await env.open();
      const { client, probe } = opened;
      await client.effect({ id: 'r', amount: 5 }, { idempotencyKey: 'key-reused' });
      const error = await rejection(client.effect({ id: 'r', amount: 6 }, { idempotencyKey: 'key-reused' }), 'reuse');
      assertInstance(error, IdempotencyKeyReusedError, 'the same key with another payload');
      assert.equal(error.code, 'IDEMPOTENCY_KEY_REUSED');
      assert.equal(error.retryable, false);
      assert.equal(error.details?.['key'], 'key-reused');
      assert.equal(probe.totals.get('r'), 5);
      assert.equal(probe.count('effect'), 1);
      await stillServes(opened);
    },
  },
  {
    name: 'a non-retryable error is stored and replayed under its key; a retryable one is not stored',
    async run(env) {
      const opened = await env.open();
      const { client, probe } = opened;
      for (let i = 0; i < 2; i++) {
        const error = await rejection(client.effect({ id: 'f', amount: 1, fail: 'final' }, { idempotencyKey: 'key-final' }), 'final');
        assertInstance(error, OutOfStockError, `attempt ${i + 1} of a final failure`);
      }
      assert.equal(probe.count('effect'), 1, 'the stored error was replayed, the handler not run again');
      for (let i = 0; i < 2; i++) {
        const error = await rejection(client.effect({ id: 'g', amount: 1, fail: 'retryable' }, { idempotencyKey: 'key-retry' }), 'retryable');
        assertInstance(error, UnavailableError, `attempt ${i + 1} of a retryable failure`);
      }
      assert.equal(probe.count('effect'), 3, 'a retryable failure is not an answer: the retry ran again');
    },
  },
  {
    name: 'an in-flight duplicate waits for the first request and gets its response; one effect',
    async run(env) {
      const opened = await env.open({ waitMs: 10_000 });
      const { client, probe, begins } = opened;
      const gate = probe.gate('w');
      const first = client.effect({ id: 'w', amount: 1 }, { idempotencyKey: 'key-wait' });
      await waitFor(() => probe.count('effect') === 1, 'the first request to start');
      const second = client.effect({ id: 'w', amount: 1 }, { idempotencyKey: 'key-wait' });
      await waitFor(() => begins.some((b) => b.state === 'in-flight'), 'the duplicate to reach the server and wait');
      gate.open();
      const [a, b] = await Promise.all([first, second]);
      assert.deepEqual(b, a);
      assert.equal(probe.totals.get('w'), 1);
      assert.equal(probe.count('effect'), 1);
    },
  },
  {
    name: 'with no wait allowed, an in-flight duplicate is IdempotencyConflictError (retryable); a later retry gets the stored response',
    async run(env) {
      const opened = await env.open({ waitMs: 0 });
      const { client, probe } = opened;
      const gate = probe.gate('c');
      const first = client.effect({ id: 'c', amount: 1 }, { idempotencyKey: 'key-conflict' });
      await waitFor(() => probe.count('effect') === 1, 'the first request to start');
      const error = await rejection(client.effect({ id: 'c', amount: 1 }, { idempotencyKey: 'key-conflict' }), 'duplicate');
      assertInstance(error, IdempotencyConflictError, 'the in-flight duplicate');
      assert.equal(error.code, 'IDEMPOTENCY_IN_PROGRESS');
      assert.equal(error.retryable, true);
      gate.open();
      const a = await first;
      const retried = await client.effect({ id: 'c', amount: 1 }, { idempotencyKey: 'key-conflict' });
      assert.deepEqual(retried, a);
      assert.equal(probe.totals.get('c'), 1);
      assert.equal(probe.count('effect'), 1);
    },
  },
  {
    name: 'an input over maxInputBytes is MessageTooLargeError and is not run; smaller inputs pass; the server keeps serving',
    requires: 'maxInputBytes',
    async run(env) {
      const max = env.features.maxInputBytes!;
      const opened = await env.open();
      const { client, probe } = opened;
      const error = await rejection(client.upload({ data: 'y'.repeat(2 * max) }), 'an oversized input');
      assertInstance(error, MessageTooLargeError, 'an input twice the limit');
      assert.equal(error.code, 'MESSAGE_TOO_LARGE');
      assert.equal(error.retryable, false);
      assert.equal(probe.count('upload'), 0);
      const half = Math.floor(max / 2);
      assert.deepEqual(await client.upload({ data: 'z'.repeat(half) }), { chars: half });
      await stillServes(opened);
    },
  },
  {
    name: 'trace context, correlation and causation ids, attempt, idempotency key and metadata reach the callee',
    async run(env) {
      const opened = await env.open();
      const metadata = { tenant: 'acme', subject: 'user 7, role=admin; ü' };
      const ctx = new Context({
        traceparent: PARENT,
        tracestate: 'vendor=abc,other=1',
        correlationId: 'corr-42',
        causationId: 'cause-41',
        attempt: 3,
        metadata,
        operation: 'conformance.inspect',
      });
      const direct = await opened.transport.call(conformanceContract.queries.inspect, { label: 'direct' }, ctx);
      const view = direct as Record<string, unknown>;
      assert.equal(typeof view['traceparent'], 'string', 'a traceparent reached the callee');
      assert.equal((view['traceparent'] as string).slice(3, 35), TRACE_ID, 'the trace id is kept');
      assert.equal(view['tracestate'], 'vendor=abc,other=1');
      assert.equal(view['correlationId'], 'corr-42');
      assert.equal(view['causationId'], 'cause-41');
      assert.equal(view['attempt'], 3);
      assert.deepEqual(view['metadata'], metadata);
      assert.equal(view['operation'], 'conformance.inspect');

      // Through the typed client the call is a child span of the caller's: same trace, new span id.
      const child = await opened.client.inspect({ label: 'child' }, { ctx });
      assert.equal(child.traceparent?.slice(3, 35), TRACE_ID);
      assert.notEqual(child.traceparent, PARENT, 'the client made a child span');
      assert.equal(child.correlationId, 'corr-42');

      const effect = await opened.client.effect({ id: 't', amount: 1 }, { ctx, idempotencyKey: 'key-trace' });
      assert.equal(effect.ctx.idempotencyKey, 'key-trace');
      assert.equal(effect.ctx.correlationId, 'corr-42');
      const auto = await opened.client.effect({ id: 't', amount: 1 });
      assert.equal(typeof auto.ctx.idempotencyKey, 'string', 'an idempotent command gets a key automatically');
    },
  },
  {
    name: 'context fields the wire cannot carry are dropped or carried unchanged, never a failed call',
    async run(env) {
      const opened = await env.open();
      const ctx = new Context({
        correlationId: 'заказ-42\r\nx-injected: 1',
        causationId: 'cause with spaces',
        traceparent: 'not a traceparent\n',
        tracestate: 'a=\u00e9',
        operation: 'conformance.inspect',
      });
      const view = (await opened.transport.call(conformanceContract.queries.inspect, { label: 'odd' }, ctx)) as Record<string, unknown>;
      for (const field of ['correlationId', 'causationId', 'traceparent', 'tracestate'] as const) {
        assert.ok(
          view[field] === null || view[field] === ctx[field] || (field === 'traceparent' && typeof view[field] === 'string'),
          `${field} arrived changed: ${JSON.stringify(view[field])}`,
        );
      }
      assert.equal(view['operation'], 'conformance.inspect');
    },
  },
  {
    name: 'an idempotency key that cannot be used is BadRequestError (not retryable) and nothing runs',
    async run(env) {
      const opened = await env.open();
      for (const key of ['ключ', 'two words', '']) {
        const error = await rejection(opened.client.effect({ id: 'k', amount: 1 }, { idempotencyKey: key }), `key ${JSON.stringify(key)}`);
        assertInstance(error, BadRequestError, `idempotency key ${JSON.stringify(key)}`);
        assert.equal(error.retryable, false);
        assert.equal(error.details?.['reason'], 'invalid-idempotency-key');
      }
      assert.equal(opened.probe.count('effect'), 0);
      await stillServes(opened);
    },
  },
  {
    name: 'a server stream applies backpressure: a consumer that stops reading stops the producer',
    requires: 'streaming',
    async run(env) {
      const { harness, probe } = await env.openStream();
      assert.ok(harness.stream, "the manifest says 'streaming' but setup returned no stream()");
      const total = 2000;
      const size = 16 * 1024;
      const items = harness.stream(streamingContract.queries.ticks, { count: total, size }, new Context({ operation: 'conformanceStream.ticks' }));
      const iterator = items[Symbol.asyncIterator]();
      for (let i = 0; i < 3; i++) {
        const step = await iterator.next();
        assert.equal(step.done, false);
        assert.equal((step.value as Tick).i, i);
      }
      const produced = await quiescent(() => probe.produced, total);
      assert.ok(
        produced < total,
        `the producer ran ahead of a consumer that stopped after 3 items: ${produced} of ${total} produced (${(produced * size) >> 20} MiB buffered)`,
      );
      let next = 3;
      for (;;) {
        const step = await iterator.next();
        if (step.done === true) break;
        const tick = step.value as Tick;
        assert.equal(tick.i, next++, 'items arrive in order');
        assert.equal(tick.pad.length, size);
      }
      assert.equal(next, total, 'every item arrived once the consumer resumed');
    },
  },
  {
    name: "closing a server stream early cancels the producer's ctx",
    requires: 'streaming',
    async run(env) {
      const { harness, probe } = await env.openStream();
      assert.ok(harness.stream, "the manifest says 'streaming' but setup returned no stream()");
      const total = 100_000;
      const items = harness.stream(streamingContract.queries.ticks, { count: total, size: 64 }, new Context({ operation: 'conformanceStream.ticks' }));
      let seen = 0;
      for await (const item of items) {
        assert.equal((item as Tick).i, seen);
        if (++seen === 5) break;
      }
      await waitFor(() => probe.streamCancelled, "the producer's ctx.cancel");
      await waitFor(() => probe.streamFinished, 'the producer to finish');
      assert.ok(probe.produced < total, 'the producer stopped early');
    },
  },
];
