import { type Clock, systemClock } from '../core/clock.js';
import { Context } from '../core/context.js';
import type {
  CallOptions,
  Client,
  Implementation,
  OperationDef,
  ServiceContract,
} from '../core/contract.js';
import { newId } from '../core/ids.js';
import { type Handler, type Middleware, wrap } from '../core/middleware.js';
import { childTraceparent } from '../core/trace-context.js';
import { compile } from '../schema/compile.js';

/**
 * The Transport abstraction: how a contract is served and called synchronously. Every sync transport
 * (http, inproc; later grpc, ws) has two halves:
 *
 * - a `ServerTransport` hosts implementations: `serve(contract, implementation, { middleware })`. Its
 *   pipeline per call is the same everywhere (see `served-operation.ts`): rebuild the context from the
 *   wire (deadline, cancellation, trace, correlation, idempotency key) → refuse work whose deadline passed
 *   → validate the input with the compiled validator → idempotency → server middleware → implementation →
 *   optional output validation; errors leave as wire errors (`error-registry.ts`).
 * - a `ClientTransport` sends one call: `call(operation, input, ctx)` resolves with the output or rejects
 *   with the typed Courier error the server raised (or a transport error of its own). It carries the
 *   context across the hop and honours `ctx.deadline` and `ctx.cancel` locally too, so a dead server cannot
 *   hang a caller that set a deadline.
 *
 * `createClient(contract, transport, options)` turns a client transport into the typed `Client<C>` of the
 * contract. Client-side `policy` middleware (timeout, retry, breaker…) wraps each operation's call, so
 * every attempt of a retry goes through the transport with the attempt's own context.
 */
export interface ClientTransport {
  readonly name: string;
  /** Send one call; reject with a typed `CourierError`. `ctx.operation` is set; `ctx.idempotencyKey` travels. */
  call(operation: OperationDef, input: unknown, ctx: Context): Promise<unknown>;
  /** Release connections. Calls after close reject with `ClosedError`. */
  close(): Promise<void>;
}

export interface ServeOptions {
  /** Server-side middleware around each implementation function, outermost first. */
  readonly middleware?: ReadonlyArray<Middleware<any, any>>;
}

export interface ServerTransport<O extends ServeOptions = ServeOptions> {
  readonly name: string;
  /** Host `implementation` for every query and command of `contract`. */
  serve<C extends ServiceContract>(contract: C, implementation: Implementation<C>, options?: O): void;
  /** Stop taking calls and release resources. */
  close(): Promise<void>;
}

export interface ClientOptions {
  /** Client-side middleware around every call (outermost first), e.g. `[timeout(300), retry(), breaker()]`. */
  readonly policy?: ReadonlyArray<Middleware<any, any>>;
  /** The context calls derive from when `CallOptions.ctx` is not given (e.g. a handler's own ctx). */
  readonly ctx?: Context;
  /** Default time budget per call, ms, when neither the call nor the operation sets one. */
  readonly timeoutMs?: number;
  /** Metadata sent with every call (merged under the call's own). */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Check input against the contract before sending (the server always does). Default false. */
  readonly validateInput?: boolean;
  /** Check output against the contract on arrival. Default false. */
  readonly validateOutput?: boolean;
  /**
   * Give every call of an `idempotent` command an idempotency key when the caller did not, made once per
   * logical call so that all retries share it. Default true.
   */
  readonly autoIdempotencyKey?: boolean;
  readonly clock?: Clock;
}

/** The typed client of `contract` over `transport`. */
export function createClient<C extends ServiceContract>(
  contract: C,
  transport: ClientTransport,
  options: ClientOptions = {},
): Client<C> {
  const client: Record<string, (input: unknown, call?: CallOptions) => Promise<unknown>> = {};
  for (const [name, op] of Object.entries(contract.operations)) {
    client[name] = clientMethod(op, transport, options);
  }
  return Object.freeze(client) as unknown as Client<C>;
}

function clientMethod(
  op: OperationDef,
  transport: ClientTransport,
  options: ClientOptions,
): (input: unknown, call?: CallOptions) => Promise<unknown> {
  const clock = options.clock ?? systemClock;
  const operation = `${op.service}.${op.name}`;
  const send: Handler = (input, ctx) => transport.call(op, input, ctx);
  let handler: Handler = options.policy && options.policy.length > 0 ? wrap(send, options.policy) : send;
  if (options.validateOutput) {
    const output = compile(op.output);
    const inner = handler;
    handler = async (input, ctx) => output.validate(await inner(input, ctx), `output of ${operation}`);
  }
  if (options.validateInput) {
    const input = compile(op.input);
    const inner = handler;
    handler = (value, ctx) => inner(input.validate(value, `input of ${operation}`), ctx);
  }
  const base = options.ctx ?? Context.background;
  const timeoutMs = op.timeoutMs ?? options.timeoutMs;
  const autoKey = options.autoIdempotencyKey !== false && op.kind === 'command' && op.idempotent === true;
  // A call with no options and nothing per-call to add (no deadline, no key, no trace) shares one
  // immutable context: the common in-cluster call allocates nothing here.
  const shared =
    timeoutMs === undefined && !autoKey && base.traceparent === undefined
      ? callContext(base, undefined, operation, options.metadata, undefined, undefined, clock)
      : undefined;
  return (input, call) => {
    const ctx =
      call === undefined && shared !== undefined
        ? shared
        : callContext(
            call?.ctx ?? base,
            call?.timeoutMs ?? timeoutMs,
            operation,
            options.metadata,
            call?.metadata,
            call?.idempotencyKey ?? (autoKey ? newId() : undefined),
            clock,
          );
    return handler(input, ctx);
  };
}

function callContext(
  base: Context,
  timeoutMs: number | undefined,
  operation: string,
  clientMetadata: Readonly<Record<string, string>> | undefined,
  callMetadata: Readonly<Record<string, string>> | undefined,
  idempotencyKey: string | undefined,
  clock: Clock,
): Context {
  let deadline = base.deadline;
  if (timeoutMs !== undefined) {
    if (Number.isNaN(timeoutMs)) throw new RangeError('timeoutMs is NaN');
    const own = clock.now() + timeoutMs;
    if (deadline === undefined || own < deadline) deadline = own;
  }
  return new Context({
    deadline,
    cancel: base.cancel,
    correlationId: base.correlationId,
    causationId: base.causationId,
    // The outgoing call is a new span under the caller's, when the caller is part of a trace.
    traceparent: base.traceparent === undefined ? undefined : childTraceparent(base.traceparent),
    tracestate: base.tracestate,
    attempt: 1,
    idempotencyKey,
    operation,
    metadata: mergeMetadata(clientMetadata, base.metadata, callMetadata),
  });
}

function mergeMetadata(
  a: Readonly<Record<string, string>> | undefined,
  b: Readonly<Record<string, string>>,
  c: Readonly<Record<string, string>> | undefined,
): Readonly<Record<string, string>> | undefined {
  const empty = (m: Readonly<Record<string, string>> | undefined): boolean => m === undefined || isEmpty(m);
  if (empty(a) && empty(c)) return b;
  if (empty(b) && empty(c)) return a;
  if (empty(a) && empty(b)) return c;
  return { ...a, ...b, ...c };
}

function isEmpty(record: Readonly<Record<string, string>>): boolean {
  for (const _ in record) return false;
  return true;
}
