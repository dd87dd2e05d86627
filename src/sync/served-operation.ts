import { type Clock, systemClock } from '../core/clock.js';
import type { Context } from '../core/context.js';
import type { OperationDef } from '../core/contract.js';
import { DeadlineExceededError, ValidationError } from '../core/errors.js';
import { type Handler, type Middleware, wrap } from '../core/middleware.js';
import { timeout } from '../policies/timeout.js';
import { IdempotencyGuard, type IdempotencyOptions } from '../reliability/idempotency/idempotency.js';
import { MemoryIdempotencyStore } from '../reliability/idempotency/memory-store.js';
import { type Validator, compile } from '../schema/compile.js';
import { InternalError } from './errors.js';

/**
 * What every sync server does with one call, whatever the wire: the transport decodes the request and
 * rebuilds the context, then hands both to `ServedOperation.run`, which
 *
 * 1. refuses to start when the deadline has passed or the call is already cancelled
 *    (`DeadlineExceededError` / the cancel reason): nobody waits for that answer;
 * 2. validates the input with the contract's compiled validator (`ValidationError` naming the path);
 * 3. when the context has a deadline, runs the rest under a deadline guard: when the deadline passes the
 *    handler's `ctx.cancel` fires with `DeadlineExceededError` and the call rejects with it at once;
 * 4. for a command carrying an idempotency key, goes through the `IdempotencyGuard` (replay, 422, 409);
 * 5. runs the server middleware and the implementation; with `validateOutput`, checks the output and turns
 *    a contract breach into `InternalError` (the caller did nothing wrong).
 *
 * The result is the output, or a `Replay` (stored output as JSON) for a replayed idempotent command.
 * Everything per operation (validators, the composed handler) is built once, at `serve` time.
 */
export interface ServerRuntimeOptions {
  readonly clock?: Clock;
  /**
   * Idempotency-key handling for commands: options (a store, TTL, waits), an existing guard to share, or
   * `false` to ignore keys. Default: an in-memory store.
   */
  readonly idempotency?: IdempotencyOptions | IdempotencyGuard | false;
  /** Check outputs against the contract (development). Default false. */
  readonly validateOutput?: boolean;
  /** Send non-Courier errors' own messages to callers (development). Default false. */
  readonly exposeErrors?: boolean;
}

/** Shared by every operation a server hosts: one clock, one deadline guard (one timer), one idempotency guard. */
export class ServerRuntime {
  readonly clock: Clock;
  readonly idempotency: IdempotencyGuard | undefined;
  readonly validateOutput: boolean;
  readonly exposeErrors: boolean;
  readonly deadlineGuard: Middleware<any, any>;

  constructor(options: ServerRuntimeOptions = {}) {
    this.clock = options.clock ?? systemClock;
    const idem = options.idempotency;
    this.idempotency =
      idem === false
        ? undefined
        : idem instanceof IdempotencyGuard
          ? idem
          : new IdempotencyGuard({ clock: this.clock, ...(idem ?? { store: new MemoryIdempotencyStore() }) });
    this.validateOutput = options.validateOutput ?? false;
    this.exposeErrors = options.exposeErrors ?? false;
    // ms: Infinity: the guard enforces only the caller's deadline, with one timer for all calls.
    this.deadlineGuard = timeout({ ms: Infinity, clock: this.clock });
  }
}

export class ServedOperation {
  readonly operation: OperationDef;
  /** `<service>.<operation>`. */
  readonly fullName: string;
  readonly input: Validator<unknown>;
  private readonly clock: Clock;
  private readonly invoke: Handler;
  private readonly guarded: Handler;
  private readonly inputWhat: string;

  constructor(
    operation: OperationDef,
    implementation: (input: any, ctx: Context) => Promise<unknown>,
    middleware: ReadonlyArray<Middleware<any, any>>,
    runtime: ServerRuntime,
  ) {
    if (typeof implementation !== 'function') {
      throw new TypeError(`no implementation for ${operation.service}.${operation.name}`);
    }
    this.operation = operation;
    this.fullName = `${operation.service}.${operation.name}`;
    this.inputWhat = `input of ${this.fullName}`;
    this.input = compile(operation.input);
    this.clock = runtime.clock;
    let handler: Handler = (input, ctx) => {
      // A handler that throws synchronously or returns a plain value still yields a promise.
      try {
        return Promise.resolve(implementation(input, ctx));
      } catch (error) {
        return Promise.reject(error);
      }
    };
    if (runtime.validateOutput) handler = checkingOutput(handler, compile(operation.output), this.fullName);
    if (middleware.length > 0) handler = wrap(handler, middleware);
    const guard = operation.kind === 'command' ? runtime.idempotency : undefined;
    const fullName = this.fullName;
    this.invoke =
      guard === undefined
        ? handler
        : (input, ctx) =>
            ctx.idempotencyKey === undefined
              ? handler(input, ctx)
              : guard.execute(fullName, ctx.idempotencyKey, input, ctx, () => handler(input, ctx));
    this.guarded = runtime.deadlineGuard(this.invoke);
  }

  /** Run one call with undecoded-but-parsed input. Resolves with the output or a `Replay`. */
  run(rawInput: unknown, ctx: Context): Promise<unknown> {
    if (ctx.cancel.isCancelled) return Promise.reject(ctx.cancel.reason);
    if (ctx.deadline !== undefined && ctx.deadline <= this.clock.now()) {
      return Promise.reject(new DeadlineExceededError('deadline passed before work started'));
    }
    if (!this.input.compiled) return this.runAsync(rawInput, ctx);
    let input: unknown;
    try {
      input = this.input.validate(rawInput, this.inputWhat);
    } catch (error) {
      return Promise.reject(error);
    }
    return ctx.deadline === undefined ? this.invoke(input, ctx) : this.guarded(input, ctx);
  }

  private async runAsync(rawInput: unknown, ctx: Context): Promise<unknown> {
    const input = await this.input.validateAsync(rawInput, this.inputWhat);
    return ctx.deadline === undefined ? this.invoke(input, ctx) : this.guarded(input, ctx);
  }
}

function checkingOutput(handler: Handler, output: Validator<unknown>, fullName: string): Handler {
  return async (input, ctx) => {
    const value = await handler(input, ctx);
    try {
      return output.compiled ? output.validate(value, `output of ${fullName}`) : await output.validateAsync(value);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      throw new InternalError(`output of ${fullName} breaks the contract: ${error.message}`, {
        cause: error,
        details: { issues: error.issues },
      });
    }
  };
}
