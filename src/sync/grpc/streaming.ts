import type { Clock } from '../../core/clock.js';
import type { Context } from '../../core/context.js';
import type { OperationDef, StreamKind } from '../../core/contract.js';
import { DeadlineExceededError, ValidationError } from '../../core/errors.js';
import { type Handler, type Middleware, wrap } from '../../core/middleware.js';
import { type Validator, compile } from '../../schema/compile.js';
import { InternalError } from '../errors.js';

/**
 * The server pipeline for a streaming operation (`stream: 'server' | 'client' | 'bidi'`): what
 * `ServedOperation` is for unary calls, minus the two parts that do not fit a stream.
 *
 * - No deadline guard: `ServedOperation`'s guard settles when the handler's promise does, which for a
 *   server stream is when the handler hands back its iterable, long before the stream ends. The transport
 *   owns the stream's deadline instead (one timer per stream: it cancels the handler's `ctx.cancel` with
 *   `DeadlineExceededError` and ends the call with DEADLINE_EXCEEDED).
 * - No idempotency store: a stream's outcome is not one storable response. Idempotency keys still reach the
 *   handler in `ctx.idempotencyKey`.
 *
 * What stays the same: a call that is already cancelled or past its deadline is refused before any work;
 * a single input (server streaming) is validated with the compiled validator before the handler runs, and
 * each input of a request stream as it arrives (`validateInput`); server middleware wraps the handler (it
 * sees the call being opened: `(input, ctx) => Promise<iterable | output>`); with `validateOutput`, every
 * output message is checked (`checkOutput`) and a breach is `InternalError`.
 */
export class StreamingOperation {
  readonly fullName: string;
  readonly kind: Exclude<StreamKind, 'unary'>;
  private readonly input: Validator<unknown>;
  private readonly output: Validator<unknown> | undefined;
  private readonly handler: Handler;
  private readonly inputWhat: string;

  constructor(
    readonly operation: OperationDef,
    implementation: (input: any, ctx: Context) => unknown,
    middleware: ReadonlyArray<Middleware<any, any>>,
    private readonly clock: Clock,
    validateOutput: boolean,
  ) {
    if (typeof implementation !== 'function') {
      throw new TypeError(`no implementation for ${operation.service}.${operation.name}`);
    }
    this.fullName = `${operation.service}.${operation.name}`;
    this.kind = operation.stream as Exclude<StreamKind, 'unary'>;
    this.inputWhat = `input of ${this.fullName}`;
    this.input = compile(operation.input);
    this.output = validateOutput ? compile(operation.output) : undefined;
    const base: Handler = (input, ctx) => {
      try {
        return Promise.resolve(implementation(input, ctx));
      } catch (error) {
        return Promise.reject(error);
      }
    };
    this.handler = middleware.length > 0 ? wrap(base, middleware) : base;
  }

  /**
   * Open the call. `input` is the one request message (server streaming) or the queue of request messages
   * (client and bidi). Resolves with the handler's iterable (server, bidi) or its output (client).
   */
  async open(input: unknown, ctx: Context): Promise<unknown> {
    if (ctx.cancel.isCancelled) throw ctx.cancel.reason;
    if (ctx.deadline !== undefined && ctx.deadline <= this.clock.now()) {
      throw new DeadlineExceededError('deadline passed before work started');
    }
    const value = this.kind === 'server' ? await this.validateInput(input) : input;
    const result = await this.handler(value, ctx);
    if (this.kind !== 'client' && !isAsyncIterable(result)) {
      throw new InternalError(`${this.fullName} is a '${this.kind}' stream but its handler returned no AsyncIterable`);
    }
    return result;
  }

  /** Check one request message against the contract. */
  validateInput(value: unknown): unknown {
    return this.input.compiled ? this.input.validate(value, this.inputWhat) : this.input.validateAsync(value, this.inputWhat);
  }

  /** With `validateOutput`, check one output message; a breach is the server's bug (`InternalError`). */
  async checkOutput(value: unknown): Promise<unknown> {
    if (this.output === undefined) return value;
    try {
      return this.output.compiled ? this.output.validate(value) : await this.output.validateAsync(value);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      throw new InternalError(`output of ${this.fullName} breaks the contract: ${error.message}`, { cause: error, details: { issues: error.issues } });
    }
  }
}

export function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as Record<symbol, unknown>)[Symbol.asyncIterator] === 'function';
}
