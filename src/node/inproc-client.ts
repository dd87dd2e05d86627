import { type Clock, systemClock } from '../core/clock.js';
import { Context } from '../core/context.js';
import type { CallOptions, Client, OperationDef, ServiceContract } from '../core/contract.js';
import { CourierError } from '../core/errors.js';
import { type Handler, type Middleware, wrap } from '../core/middleware.js';
import { compile } from '../schema/compile.js';

/** An operation a node serves: the handler, already validated and wrapped in the provider's middleware. */
export type ServedOperation = Handler<unknown, unknown>;

/** The operations a node implements, by `service.operation`. */
export class Registry {
  private readonly served = new Map<string, ServedOperation>();

  add(
    contract: ServiceContract,
    handlers: Record<string, (input: any, ctx: Context) => Promise<unknown>>,
    middleware: readonly Middleware[] = [],
  ): void {
    // Check everything before registering anything: a failed `implement` leaves the registry unchanged.
    const ops = Object.values(contract.operations);
    for (const op of ops) {
      if (typeof handlers[op.name] !== 'function')
        throw new TypeError(`implementation of ${contract.name} lacks "${op.name}"`);
      if (this.served.has(`${contract.name}.${op.name}`))
        throw new TypeError(`${contract.name}.${op.name} is implemented twice`);
    }
    for (const op of ops)
      this.served.set(`${contract.name}.${op.name}`, serveOperation(op, handlers[op.name]!, middleware));
  }

  get(service: string, operation: string): ServedOperation | undefined {
    return this.served.get(`${service}.${operation}`);
  }
}

/** No implementation of an operation is registered where the client looked for one. */
export class NotImplementedError extends CourierError {
  constructor(operation: string) {
    super('NOT_IMPLEMENTED', `no implementation of ${operation} is registered on this node`, {
      retryable: false,
    });
  }
}

/**
 * The provider side of a call, whatever carried it: refuse work whose deadline already passed, validate the
 * input against the contract (a `ValidationError` names the failing path), run the handler inside the
 * provider's middleware, and validate what it returns (a handler that breaks its own contract is a bug that
 * must not reach the caller as if it were data).
 */
function serveOperation(
  op: OperationDef,
  handler: (input: any, ctx: Context) => Promise<unknown>,
  middleware: readonly Middleware[],
  clock: Clock = systemClock,
): ServedOperation {
  const input = compile(op.input);
  const output = compile(op.output);
  const name = `${op.service}.${op.name}`;
  const inner: Handler<unknown, unknown> = async (value, ctx) =>
    output.validate(await handler(value, ctx), `output of ${name}`);
  const wrapped = wrap(inner, middleware);
  return async (value, ctx) => {
    ctx.throwIfDone(clock);
    return wrapped(input.validate(value, `input of ${name}`), ctx);
  };
}

export interface InprocClientOptions {
  /** Client-side middleware (policies), outermost first. */
  readonly policy?: readonly Middleware[];
  readonly clock?: Clock;
}

/**
 * A typed client that calls operations served by `registry` in this process. Same semantics as a remote
 * transport: each call gets a context with its deadline (`timeoutMs`, or the operation's default), the
 * client's policies wrap the call, and the provider validates input and output.
 */
export function inprocClient<C extends ServiceContract>(
  contract: C,
  registry: Registry,
  options: InprocClientOptions = {},
): Client<C> {
  const clock = options.clock ?? systemClock;
  const client: Record<string, (input: unknown, call?: CallOptions) => Promise<unknown>> = {};
  for (const op of Object.values(contract.operations)) {
    const operation = `${contract.name}.${op.name}`;
    const transport: Handler<unknown, unknown> = (input, ctx) => {
      const served = registry.get(contract.name, op.name);
      if (served === undefined) return Promise.reject(new NotImplementedError(operation));
      return served(input, ctx);
    };
    const call = wrap(transport, options.policy ?? []);
    client[op.name] = (input, callOptions = {}) => {
      let ctx = (callOptions.ctx ?? Context.background).with({
        operation,
        ...(callOptions.idempotencyKey === undefined ? {} : { idempotencyKey: callOptions.idempotencyKey }),
        ...(callOptions.metadata === undefined ? {} : { metadata: callOptions.metadata }),
      });
      const timeoutMs = callOptions.timeoutMs ?? op.timeoutMs;
      if (timeoutMs !== undefined) ctx = ctx.withTimeout(timeoutMs, clock);
      return call(input, ctx);
    };
  }
  return client as Client<C>;
}
