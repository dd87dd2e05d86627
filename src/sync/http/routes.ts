import type { OperationDef } from '../../core/contract.js';
import { toJsonSchema } from '../../schema/json-schema.js';
import { type FieldCodec, QueryCodec, decodeField, scalarText } from './query-codec.js';

/**
 * The conventional REST mapping of an operation, shared by server and client so both derive the same route
 * from the contract alone:
 * - path: `<prefix><http.path>`; the prefix defaults to `/<service>` and the path to `/<operation>`.
 *   `:name` segments are path parameters, filled from (and merged back into) the input's property `name`.
 * - method: `http.method` if given; otherwise a query is `GET` when its input can travel in the query
 *   string (see `QueryCodec`) and `POST` when it cannot, and a command is `POST`.
 * - input: in the query string for `GET` (and for `DELETE` when it fits), otherwise a JSON body.
 * - `safe`: the method may be replayed by the HTTP client on a dead connection and pipelined: `GET`, `PUT`,
 *   `DELETE`, and any operation the contract marks `idempotent` (queries always are).
 */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpRoute {
  readonly operation: OperationDef;
  readonly method: HttpMethod;
  /** Route pattern, e.g. `/inventory/items/:sku`. */
  readonly url: string;
  readonly pathParams: readonly FieldCodec[];
  /** Set when the input travels in the query string. */
  readonly query: QueryCodec | undefined;
  readonly safe: boolean;
}

/** Normalise a service prefix: '' or `/a/b` without a trailing slash. */
export function normalizePrefix(prefix: string): string {
  if (prefix === '' || prefix === '/') return '';
  const withSlash = prefix.startsWith('/') ? prefix : `/${prefix}`;
  return withSlash.endsWith('/') ? withSlash.slice(0, -1) : withSlash;
}

export function httpRoute(operation: OperationDef, prefix: string = `/${operation.service}`): HttpRoute {
  const where = `${operation.service}.${operation.name}`;
  const path = operation.http?.path ?? `/${operation.name}`;
  if (!path.startsWith('/')) throw new TypeError(`${where}: http.path must start with "/"`);
  const url = normalizePrefix(prefix) + path;
  const schema = toJsonSchema(operation.input);
  const codec = QueryCodec.of(schema);
  const method: HttpMethod =
    operation.http?.method ?? (operation.kind === 'query' ? (codec === undefined ? 'POST' : 'GET') : 'POST');
  if (method === 'GET' && codec === undefined) {
    throw new TypeError(`${where}: GET needs an input of scalar properties; use POST for this input`);
  }
  const names = [...url.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!);
  const pathParams = names.map((name): FieldCodec => {
    const field = codec?.field(name) ?? scalarPropertyOf(schema, name);
    if (field === undefined) throw new TypeError(`${where}: path parameter :${name} is not a scalar input property`);
    return field;
  });
  const inQuery = codec !== undefined && (method === 'GET' || method === 'DELETE');
  const safe = method === 'GET' || method === 'PUT' || method === 'DELETE' || operation.idempotent === true;
  return { operation, method, url, pathParams, query: inQuery ? codec : undefined, safe };
}

/** The request path (with query string) for `input` on `route`. */
export function requestPath(route: HttpRoute, input: unknown): string {
  let path = route.url;
  if (route.pathParams.length > 0) {
    const record = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
    for (const param of route.pathParams) {
      const value = record[param.name];
      if (value === undefined || value === null) throw new TypeError(`path parameter ${param.name} is missing`);
      path = path.replace(`:${param.name}`, encodeURIComponent(scalarText(value)));
    }
  }
  if (route.query === undefined) return path;
  return path + route.query.encode(input, route.pathParams.map((p) => p.name));
}

/** Merge decoded path parameters into a body or query input (a copy; the parsed body is not mutated). */
export function withPathParams(route: HttpRoute, input: unknown, params: Readonly<Record<string, unknown>>): unknown {
  if (route.pathParams.length === 0) return input;
  const out: Record<string, unknown> =
    typeof input === 'object' && input !== null && !Array.isArray(input) ? { ...(input as Record<string, unknown>) } : {};
  for (const param of route.pathParams) {
    const raw = params[param.name];
    if (raw !== undefined) out[param.name] = decodeField(param, raw);
  }
  return out;
}

function scalarPropertyOf(schema: Record<string, unknown> | undefined, name: string): FieldCodec | undefined {
  const properties = schema?.['properties'] as Record<string, Record<string, unknown>> | undefined;
  const property = properties?.[name];
  if (property === undefined) return undefined;
  return QueryCodec.of({ type: 'object', properties: { [name]: property } })?.field(name);
}
