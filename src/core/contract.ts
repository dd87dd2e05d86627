import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { Context } from './context.js';

/**
 * The contract: what a service offers. Queries read, commands change things, events are facts that
 * happened. Schemas are any Standard Schema validator (zod by default). How an operation travels (REST,
 * gRPC, WebSocket, in-process, a queue) is chosen at deployment, never written into the contract.
 */
export type Schema<T = unknown> = StandardSchemaV1<unknown, T>;
export type Infer<S> = S extends StandardSchemaV1<any, infer O> ? O : never;

/** How an operation maps onto HTTP when served over REST. Defaults: query → GET, command → POST. */
export interface HttpMapping {
  readonly method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path relative to the service prefix, e.g. `/items/:sku`. Default: `/<operation name>`. */
  readonly path?: string;
}

export type StreamKind = 'unary' | 'server' | 'client' | 'bidi';

export interface OperationOptions {
  readonly description?: string;
  /** Safe to retry with the same input: the server dedups on an idempotency key. Queries are always idempotent. */
  readonly idempotent?: boolean;
  /** Default time budget a client gives this operation when the caller sets none, in ms. */
  readonly timeoutMs?: number;
  readonly http?: HttpMapping;
  /** Streaming shape on transports that support it (gRPC, WebSocket). Default `unary`. */
  readonly stream?: StreamKind;
}

interface OperationBase<K extends 'query' | 'command', I extends Schema, O extends Schema> extends OperationOptions {
  readonly kind: K;
  readonly input: I;
  readonly output: O;
  /** Filled in by `service()`. */
  readonly name: string;
  readonly service: string;
}

export type QueryDef<I extends Schema = Schema, O extends Schema = Schema> = OperationBase<'query', I, O>;
export type CommandDef<I extends Schema = Schema, O extends Schema = Schema> = OperationBase<'command', I, O>;
export type OperationDef = QueryDef | CommandDef;

export interface EventOptions {
  readonly description?: string;
  /** CloudEvents `type`. Default: `<service>.<EventName>`. */
  readonly type?: string;
  /** Schema version, carried in `dataschema`. Default 1. */
  readonly version?: number;
}

export interface EventDef<S extends Schema = Schema> extends EventOptions {
  readonly kind: 'event';
  readonly schema: S;
  /** Filled in by `service()`. */
  readonly name: string;
  readonly service: string;
  /** CloudEvents type, e.g. `orders.OrderPlaced`. */
  readonly type: string;
}

type Unnamed<T> = Omit<T, 'name' | 'service'>;

/**
 * The streaming shape an operation declared, kept as a literal type so that handlers and clients get the
 * right signature (see `OperationHandler` and `ClientMethod`); unary operations carry nothing extra.
 */
type StreamTag<S extends StreamKind> = S extends 'unary' ? unknown : { readonly stream: S };

export function query<I extends Schema, O extends Schema, const S extends StreamKind = 'unary'>(
  def: { input: I; output: O; stream?: S } & OperationOptions,
): Unnamed<QueryDef<I, O>> & StreamTag<S> {
  return { ...def, kind: 'query', idempotent: true } as Unnamed<QueryDef<I, O>> & StreamTag<S>;
}

export function command<I extends Schema, O extends Schema, const S extends StreamKind = 'unary'>(
  def: { input: I; output: O; stream?: S } & OperationOptions,
): Unnamed<CommandDef<I, O>> & StreamTag<S> {
  return { ...def, kind: 'command' } as Unnamed<CommandDef<I, O>> & StreamTag<S>;
}

export function event<S extends Schema>(schema: S, options: EventOptions = {}): Omit<EventDef<S>, 'name' | 'service' | 'type'> & { type?: string } {
  return { ...options, kind: 'event', schema };
}

export interface ServiceShape {
  readonly queries?: Record<string, Unnamed<QueryDef<any, any>>>;
  readonly commands?: Record<string, Unnamed<CommandDef<any, any>>>;
  readonly events?: Record<string, Omit<EventDef<any>, 'name' | 'service' | 'type'> & { type?: string }>;
}

type StreamOf<T> = T extends { readonly stream: infer S extends StreamKind } ? { readonly stream: S } : unknown;

type Named<T, Svc extends string> = T extends Unnamed<QueryDef<infer I, infer O>> & { kind: 'query' }
  ? QueryDef<I, O> & { service: Svc } & StreamOf<T>
  : T extends Unnamed<CommandDef<infer I, infer O>> & { kind: 'command' }
    ? CommandDef<I, O> & { service: Svc } & StreamOf<T>
    : never;

export interface ServiceContract<N extends string = string, S extends ServiceShape = ServiceShape> {
  readonly kind: 'service';
  readonly name: N;
  readonly queries: { readonly [K in keyof S['queries']]: Named<NonNullable<S['queries']>[K], N> };
  readonly commands: { readonly [K in keyof S['commands']]: Named<NonNullable<S['commands']>[K], N> };
  readonly events: {
    readonly [K in keyof S['events']]: NonNullable<S['events']>[K] extends { schema: infer E extends Schema }
      ? EventDef<E>
      : never;
  };
  /** Every query and command, by name. */
  readonly operations: Readonly<Record<string, OperationDef>>;
}

const NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;

/** Declare a service. Names operations and events, and rejects clashes early. */
export function service<const N extends string, const S extends ServiceShape>(name: N, shape: S): ServiceContract<N, S> {
  if (!NAME.test(name)) throw new TypeError(`service name "${name}" must match ${String(NAME)}`);
  const operations: Record<string, OperationDef> = {};
  const named = (group: Record<string, any> | undefined): Record<string, any> => {
    const out: Record<string, any> = {};
    for (const [opName, def] of Object.entries(group ?? {})) {
      if (!NAME.test(opName)) throw new TypeError(`operation name "${name}.${opName}" must match ${String(NAME)}`);
      if (operations[opName]) throw new TypeError(`operation "${name}.${opName}" is declared twice`);
      const full = Object.freeze({ ...def, name: opName, service: name });
      operations[opName] = full;
      out[opName] = full;
    }
    return out;
  };
  const queries = named(shape.queries);
  const commands = named(shape.commands);
  const events: Record<string, EventDef> = {};
  for (const [evName, def] of Object.entries(shape.events ?? {})) {
    if (!NAME.test(evName)) throw new TypeError(`event name "${name}.${evName}" must match ${String(NAME)}`);
    events[evName] = Object.freeze({ ...def, name: evName, service: name, type: def.type ?? `${name}.${evName}` });
  }
  return Object.freeze({ kind: 'service', name, queries, commands, events, operations }) as unknown as ServiceContract<N, S>;
}

/**
 * The function a provider writes for an operation, by its `stream` shape (on transports that stream: gRPC):
 * - unary: `(input, ctx) => Promise<output>`;
 * - `server`: `(input, ctx) => AsyncIterable<output>` (an async generator; a promise of one also works).
 *   The transport pulls items as the network takes them (backpressure), and `ctx.cancel` fires when the
 *   caller goes away or the deadline passes; the iterator's `return()` is called then, so `finally` runs;
 * - `client`: `(inputs: AsyncIterable<input>, ctx) => Promise<output>`: each input is validated as it arrives;
 * - `bidi`: `(inputs: AsyncIterable<input>, ctx) => AsyncIterable<output>`.
 */
export type OperationHandler<Op> = Op extends OperationBase<any, infer I, infer O>
  ? Op extends { readonly stream: 'server' }
    ? (input: Infer<I>, ctx: Context) => AsyncIterable<Infer<O>> | Promise<AsyncIterable<Infer<O>>>
    : Op extends { readonly stream: 'client' }
      ? (inputs: AsyncIterable<Infer<I>>, ctx: Context) => Promise<Infer<O>>
      : Op extends { readonly stream: 'bidi' }
        ? (inputs: AsyncIterable<Infer<I>>, ctx: Context) => AsyncIterable<Infer<O>> | Promise<AsyncIterable<Infer<O>>>
        : (input: Infer<I>, ctx: Context) => Promise<Infer<O>>
  : never;

/** What a provider passes to `implement`: one handler per query and command. */
export type Implementation<C extends ServiceContract> = {
  readonly [K in keyof C['queries'] | keyof C['commands']]: K extends keyof C['queries']
    ? OperationHandler<C['queries'][K]>
    : K extends keyof C['commands']
      ? OperationHandler<C['commands'][K]>
      : never;
};

/** What a consumer calls: one method per query and command. */
export type Client<C extends ServiceContract> = {
  readonly [K in keyof C['queries'] | keyof C['commands']]: K extends keyof C['queries']
    ? ClientMethod<C['queries'][K]>
    : K extends keyof C['commands']
      ? ClientMethod<C['commands'][K]>
      : never;
};

export interface CallOptions {
  /** Time budget for this call, ms (becomes the deadline if earlier than the context's). */
  readonly timeoutMs?: number;
  readonly idempotencyKey?: string;
  readonly ctx?: Context;
  readonly metadata?: Readonly<Record<string, string>>;
}

/**
 * What a consumer calls, by the operation's `stream` shape. A streaming call's promise settles when the call
 * is established (the server accepted it and sent its response headers) or refused, so client policies
 * (retry, breaker) act on establishing the stream; the deadline and `ctx.cancel` still bound the whole
 * stream. Breaking out of a `for await` over a response stream cancels the call.
 * - `server`: `(input) => Promise<AsyncIterable<output>>`;
 * - `client`: `(inputs: AsyncIterable<input> | Iterable<input>) => Promise<output>`;
 * - `bidi`: `(inputs) => Promise<AsyncIterable<output>>`; inputs are sent as the server reads them.
 */
export type ClientMethod<Op> = Op extends OperationBase<any, infer I, infer O>
  ? Op extends { readonly stream: 'server' }
    ? (input: Infer<I>, options?: CallOptions) => Promise<AsyncIterable<Infer<O>>>
    : Op extends { readonly stream: 'client' }
      ? (inputs: AsyncIterable<Infer<I>> | Iterable<Infer<I>>, options?: CallOptions) => Promise<Infer<O>>
      : Op extends { readonly stream: 'bidi' }
        ? (inputs: AsyncIterable<Infer<I>> | Iterable<Infer<I>>, options?: CallOptions) => Promise<AsyncIterable<Infer<O>>>
        : (input: Infer<I>, options?: CallOptions) => Promise<Infer<O>>
  : never;

/** The payload type of an event. */
export type EventPayload<E> = E extends EventDef<infer S> ? Infer<S> : never;
