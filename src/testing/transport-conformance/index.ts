import type { Context } from '../../core/context.js';
import type { Implementation, OperationDef, ServiceContract } from '../../core/contract.js';
import type { IdempotencyStore } from '../../reliability/idempotency/store.js';
import type { ServerRuntimeOptions } from '../../sync/served-operation.js';
import type { ClientTransport } from '../../sync/transport.js';
import type { TestApi } from '../broker-conformance/index.js';
import { CaseEnvironment, type TransportCase, transportCases } from './cases.js';

/**
 * The transport conformance suite: what every sync transport (http, inproc, grpc, ws…) must do the same
 * way, checked against a real server and client of that transport. Register it with your test framework
 * (this module imports none):
 *
 * ```ts
 * import { describe, it } from 'vitest';
 * import { runTransportConformance } from 'courier/testing';
 *
 * runTransportConformance({
 *   describe, it,
 *   name: 'http',
 *   features: { streaming: false, maxInputBytes: 64 * 1024 },
 *   setup: async (contract, implementation, serverOptions) => {
 *     const server = httpServer({ ...serverOptions, limits: { maxBodyBytes: serverOptions.maxInputBytes } });
 *     server.serve(contract, implementation);
 *     const client = http(await server.listen());
 *     return { client, close: async () => { await client.close(); await server.close(); } };
 *   },
 * });
 * ```
 *
 * **setup** is called once per case (some cases call it with different `serverOptions`), with
 * - `contract`: the service to serve (`conformanceContract`, or `streamingContract` for streaming cases);
 * - `implementation`: its implementation, which records what the server side saw;
 * - `serverOptions`: `ServerRuntimeOptions` to build the server with (an idempotency store and wait, per
 *   case) plus `maxInputBytes`, the limit to configure (the manifest's, repeated so setups cannot forget it).
 * It returns a `TransportHarness`: the `ClientTransport` connected to that server, a `close` that releases
 * both sides, and, for a transport whose manifest says `streaming`, `stream(operation, input, ctx)`.
 *
 * **features** (the manifest) decides which cases apply; the others are registered as skipped with the
 * reason, never as passed:
 * - `streaming`: the transport serves `stream: 'server'` operations. A stream handler is an async generator
 *   `(input, ctx) => AsyncIterable<O>` (cast to the contract's `Implementation`); the harness's `stream`
 *   returns an `AsyncIterable` of the items. Its iterator's `return()` (a `break` in `for await`) must end
 *   the call and fire the producer's `ctx.cancel`.
 * - `maxInputBytes`: the largest input (as JSON bytes) the server accepts; undefined if it has no limit.
 *
 * **Cases** (see `cases.ts`; each asserts the server keeps serving after a failure):
 * typed errors round trip (class, code, message, details, constructor fields; unregistered codes; a bug is
 * `InternalError` without its message; an output JSON cannot encode is `InternalError`, answered at once);
 * an unknown operation is `NotFoundError`; calls after the client transport is closed are `ClosedError`;
 * inputs arrive as sent (URL/JSON metacharacters, numbers, booleans, empty arrays); validation failures are
 * `ValidationError` with the failing path, for body and query inputs, and the handler never runs;
 * deadlines propagate (the callee's remaining budget is finite and ≤ the caller's), cancel the callee when
 * they pass (its `ctx.cancel` fires), and a call whose deadline already passed never starts; the caller's
 * own cancellation reaches the callee; idempotent replay (same key: one effect, same response; a stored
 * non-retryable error is replayed; a retryable one is not stored; same key and another payload:
 * `IdempotencyKeyReusedError`; an in-flight duplicate waits for the first, or with `waitMs: 0` gets
 * `IdempotencyConflictError`; an unusable key is `BadRequestError`); size limit (`MessageTooLargeError`,
 * inputs under the limit pass); trace context, correlation and causation ids, attempt, idempotency key and
 * metadata reach the callee, and fields the wire cannot carry never fail a call; streaming
 * backpressure (a consumer that stops reading stops the producer) and early close cancels the producer.
 */
export interface TransportFeatures {
  /** Serves `stream: 'server'` operations; the harness then has `stream`. */
  readonly streaming: boolean;
  /** Largest input accepted, bytes of JSON; undefined when the transport enforces none (size cases skip). */
  readonly maxInputBytes?: number | undefined;
}

export interface ConformanceServerOptions extends ServerRuntimeOptions {
  /** The input limit to configure the server with (= `features.maxInputBytes`). */
  readonly maxInputBytes: number | undefined;
}

export interface TransportHarness {
  /** The client transport connected to the server `setup` started. */
  readonly client: ClientTransport;
  /** Open a server stream (required when `features.streaming`). */
  readonly stream?: (operation: OperationDef, input: unknown, ctx: Context) => AsyncIterable<unknown>;
  /** Close client and server. */
  close(): Promise<void>;
}

export type TransportSetup = <C extends ServiceContract>(
  contract: C,
  implementation: Implementation<C>,
  serverOptions: ConformanceServerOptions,
) => Promise<TransportHarness>;

export interface TransportConformanceOptions extends TestApi {
  readonly name: string;
  readonly features: TransportFeatures;
  readonly setup: TransportSetup;
  /**
   * The idempotency store each case's server uses (a fresh one per case). Default: a memory store. Pass a
   * SQLite store factory to run the idempotency cases against it.
   */
  readonly idempotencyStore?: () => IdempotencyStore;
  /** Per-case timeout, ms. Default 15 000. */
  readonly timeoutMs?: number;
  /** Cases to leave out, by name, with the reason (shown as skipped). */
  readonly exclude?: Readonly<Record<string, string>>;
}

export function runTransportConformance(options: TransportConformanceOptions): void {
  const { describe, it } = options;
  describe(`transport conformance: ${options.name}`, () => {
    for (const c of transportCases) {
      const skipReason = reasonToSkip(c, options);
      if (skipReason !== undefined) {
        it.skip(`${c.name} (skipped: ${skipReason})`, async () => undefined);
        continue;
      }
      it(c.name, () => runCase(c, options), options.timeoutMs ?? 15_000);
    }
  });
}

async function runCase(c: TransportCase, options: TransportConformanceOptions): Promise<void> {
  const env = new CaseEnvironment(options);
  try {
    await c.run(env);
  } finally {
    await env.closeAll();
  }
}

function reasonToSkip(c: TransportCase, options: TransportConformanceOptions): string | undefined {
  const excluded = options.exclude?.[c.name];
  if (excluded !== undefined) return excluded;
  if (c.requires === 'streaming' && !options.features.streaming) return `${options.name} does not stream`;
  if (c.requires === 'maxInputBytes' && options.features.maxInputBytes === undefined) {
    return `${options.name} declares no input size limit`;
  }
  return undefined;
}

export { transportCases, type TransportCase, CaseEnvironment, type OpenedCase } from './cases.js';
export {
  type ConformanceContract,
  type ContextView,
  OutOfStockError,
  Probe,
  type StreamingContract,
  type Tick,
  conformanceContract,
  conformanceImplementation,
  streamingContract,
  streamingImplementation,
} from './contract.js';
