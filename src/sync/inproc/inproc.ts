import { CancelSource, CancelToken } from '../../core/cancel.js';
import { Context } from '../../core/context.js';
import type { Client, Implementation, OperationDef, ServiceContract } from '../../core/contract.js';
import { ClosedError, MessageTooLargeError } from '../../core/errors.js';
import { Replay } from '../../reliability/idempotency/idempotency.js';
import { type WireError, fromWireError, toWireError, wireErrorJson } from '../error-registry.js';
import { InternalError, NotFoundError } from '../errors.js';
import { ServedOperation, ServerRuntime, type ServerRuntimeOptions } from '../served-operation.js';
import {
  type ClientOptions,
  type ClientTransport,
  type ServeOptions,
  type ServerTransport,
  createClient,
} from '../transport.js';

/**
 * The in-process transport: a server and a client in one object, with the same semantics as HTTP minus the
 * socket, so tests (and modular monoliths) exercise exactly what a remote call would do:
 * - input, output and errors cross a JSON "wire" by default (`copy`): the callee never shares objects with
 *   the caller, a `Date` arrives as a string, a non-Courier error arrives as `InternalError`, and a Courier
 *   error arrives as a fresh instance of its registered class;
 * - an input larger than `maxInputBytes` (as JSON) fails with `MessageTooLargeError`, like a body limit;
 * - the callee gets its own context: the caller's deadline (same clock, so the absolute deadline is exact),
 *   trace, correlation, attempt, idempotency key and metadata, and a cancel token that fires when the
 *   caller's does (the in-process "disconnect") or when the deadline passes;
 * - the caller's promise rejects as soon as its own token is cancelled, as an aborted HTTP request would;
 * - validation, deadline refusal, idempotency and server middleware are the shared `ServedOperation`.
 */
export interface InprocOptions extends ServerRuntimeOptions {
  /** Copy input, output and errors through JSON, as a wire would. Default true. */
  readonly copy?: boolean;
  /** Largest input accepted, in bytes of JSON (only checked when copying). Default 1 MiB. */
  readonly maxInputBytes?: number;
}

export class InprocTransport implements ServerTransport, ClientTransport {
  readonly name = 'inproc';
  private readonly runtime: ServerRuntime;
  private readonly operations = new Map<string, ServedOperation>();
  private readonly copy: boolean;
  private readonly maxInputBytes: number;
  private closed = false;

  constructor(options: InprocOptions = {}) {
    this.runtime = new ServerRuntime(options);
    this.copy = options.copy ?? true;
    this.maxInputBytes = options.maxInputBytes ?? 1024 * 1024;
  }

  serve<C extends ServiceContract>(contract: C, implementation: Implementation<C>, options: ServeOptions = {}): void {
    const impl = implementation as unknown as Record<string, (input: any, ctx: Context) => Promise<unknown>>;
    for (const [name, op] of Object.entries(contract.operations)) {
      const key = `${contract.name}.${name}`;
      if (this.operations.has(key)) throw new TypeError(`${key} is already served`);
      this.operations.set(key, new ServedOperation(op, impl[name]!, options.middleware ?? [], this.runtime));
    }
  }

  /** A typed client of `contract` calling this transport's implementations. */
  client<C extends ServiceContract>(contract: C, options: ClientOptions = {}): Client<C> {
    return createClient(contract, this, { clock: this.runtime.clock, ...options });
  }

  call(operation: OperationDef, input: unknown, ctx: Context): Promise<unknown> {
    if (this.closed) return Promise.reject(new ClosedError('in-process transport'));
    const served = this.operations.get(`${operation.service}.${operation.name}`);
    if (served === undefined) {
      return Promise.reject(new NotFoundError(`${operation.service}.${operation.name} is not served here`));
    }
    let sent: unknown;
    try {
      sent = this.copy ? this.copyInput(input) : input;
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.copy) return this.callCopying(served, sent, ctx);
    const result = this.dispatch(served, sent, ctx);
    // Only a command with a key can be answered from the idempotency store (as the stored JSON).
    return ctx.idempotencyKey === undefined || operation.kind !== 'command' ? result : result.then(unwrapReplay);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private async callCopying(served: ServedOperation, input: unknown, ctx: Context): Promise<unknown> {
    let output: unknown;
    try {
      output = await this.dispatch(served, input, ctx);
    } catch (error) {
      // Cancellation of the caller's own token is the caller's reason, not an answer from the callee.
      if (ctx.cancel.isCancelled && error === ctx.cancel.reason) throw error;
      throw fromWireError(copyWire(toWireError(error, { exposeErrors: this.runtime.exposeErrors })));
    }
    if (output instanceof Replay) return JSON.parse(output.json);
    try {
      return copyJson(output);
    } catch (error) {
      // Not serialisable (a cycle, a BigInt): the handler's bug, answered as HTTP would (500 INTERNAL).
      throw new InternalError(`output of ${served.fullName} cannot be sent as JSON`, { cause: error });
    }
  }

  /** Run on the callee's side with its own context; reject early when the caller cancels. */
  private dispatch(served: ServedOperation, input: unknown, ctx: Context): Promise<unknown> {
    const link = new CancelSource(ctx.cancel);
    const calleeCtx = new Context({
      deadline: ctx.deadline,
      cancel: link,
      correlationId: ctx.correlationId,
      causationId: ctx.causationId,
      traceparent: ctx.traceparent,
      tracestate: ctx.tracestate,
      attempt: ctx.attempt,
      idempotencyKey: ctx.idempotencyKey,
      operation: served.fullName,
      metadata: ctx.metadata,
    });
    const result = served.run(input, calleeCtx);
    if (ctx.cancel === CancelToken.never || ctx.cancel.isCancelled) return result;
    return new Promise<unknown>((resolve, reject) => {
      const stop = ctx.cancel.onCancel(reject);
      result.then(
        (value) => {
          stop();
          link.dispose();
          resolve(value);
        },
        (error: unknown) => {
          stop();
          link.dispose();
          reject(error);
        },
      );
    });
  }

  private copyInput(input: unknown): unknown {
    const json = JSON.stringify(input);
    if (json === undefined) return undefined;
    // UTF-8 takes at most 3 bytes per UTF-16 unit: count bytes only when the string could be too large.
    if (json.length * 3 > this.maxInputBytes) {
      const bytes = Buffer.byteLength(json);
      if (bytes > this.maxInputBytes) throw new MessageTooLargeError(bytes, this.maxInputBytes);
    }
    return JSON.parse(json);
  }
}

/** The wire error as the far side would parse it; details or fields JSON cannot encode are left out. */
function copyWire(wire: WireError): unknown {
  return JSON.parse(wireErrorJson(wire));
}

function unwrapReplay(output: unknown): unknown {
  return output instanceof Replay ? JSON.parse(output.json) : output;
}

function copyJson(value: unknown): unknown {
  const json = JSON.stringify(value);
  return json === undefined ? undefined : JSON.parse(json);
}

/** An in-process transport: `serve` implementations on it and make clients of it. */
export function inproc(options: InprocOptions = {}): InprocTransport {
  return new InprocTransport(options);
}
