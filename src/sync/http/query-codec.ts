import type { JsonSchema } from '../../schema/json-schema.js';
import { forEachPair, withValue } from './query-string.js';

/**
 * Input in a URL: the query string (and path parameters) of a conventional REST GET. An input travels
 * this way only when its JSON Schema is an object whose properties are all scalars (string, number,
 * integer, boolean, or an enum of them) or arrays of scalars: then every value has one obvious text form,
 * `?sku=A1&tag=x&tag=y`. Anything richer travels as a JSON body (POST), so nothing is lost in translation.
 *
 * Decoding is guided by the schema: a property typed number/integer becomes a number when the text is a
 * JSON number, a boolean `true`/`false` becomes a boolean; text that does not convert is left as text, so
 * the validator reports the property's path and expected type instead of the codec guessing. Parameters the
 * schema does not declare are ignored; a property given twice that is not an array stays an array (and fails
 * validation). An empty array has no query-string form: a required array property that is absent decodes as
 * `[]`; an optional one arrives absent.
 */
export type ScalarKind = 'string' | 'number' | 'integer' | 'boolean' | 'mixed';

export interface FieldCodec {
  readonly name: string;
  readonly kind: ScalarKind;
  readonly array: boolean;
  /** The schema requires the property. A required array absent from the query string is `[]`. */
  readonly required?: boolean;
}

export class QueryCodec {
  constructor(readonly fields: readonly FieldCodec[]) {}

  /** The codec for an input schema, or undefined when the input cannot travel in a URL. */
  static of(schema: JsonSchema | undefined): QueryCodec | undefined {
    if (schema === undefined || schema['type'] !== 'object') return undefined;
    const properties = (schema['properties'] ?? {}) as Record<string, JsonSchema>;
    if (typeof properties !== 'object') return undefined;
    const required = Array.isArray(schema['required']) ? (schema['required'] as unknown[]) : [];
    const fields: FieldCodec[] = [];
    for (const [name, property] of Object.entries(properties)) {
      const field = fieldOf(name, property);
      if (field === undefined) return undefined;
      fields.push(required.includes(name) ? { ...field, required: true } : field);
    }
    return new QueryCodec(fields);
  }

  field(name: string): FieldCodec | undefined {
    return this.fields.find((f) => f.name === name);
  }

  /** `?a=1&b=x` for the fields of `input` not in `skip` (path parameters); '' when there are none. */
  encode(input: unknown, skip: readonly string[]): string {
    if (typeof input !== 'object' || input === null) return '';
    const record = input as Record<string, unknown>;
    let out = '';
    for (const field of this.fields) {
      if (skip.includes(field.name)) continue;
      const value = record[field.name];
      if (value === undefined) continue;
      if (Array.isArray(value)) {
        for (const item of value)
          out += `${out === '' ? '?' : '&'}${encodeURIComponent(field.name)}=${encodeURIComponent(scalarText(item))}`;
      } else {
        out += `${out === '' ? '?' : '&'}${encodeURIComponent(field.name)}=${encodeURIComponent(scalarText(value))}`;
      }
    }
    return out;
  }

  /** The input object from a parsed query (`name → text | text[]`). */
  decode(
    query: Readonly<Record<string, unknown>>,
    into: Record<string, unknown> = {},
  ): Record<string, unknown> {
    for (const field of this.fields) {
      const raw = query[field.name];
      if (raw === undefined) {
        // An empty array writes nothing (`encode`): for a required array, nothing means `[]`. (For an
        // optional one, `[]` and absent are the same query string, and arrive as absent.)
        if (field.array && field.required === true) into[field.name] = [];
        continue;
      }
      into[field.name] = decodeField(field, raw);
    }
    return into;
  }
}

/**
 * The input object straight from a raw query string (what follows `?`): the same result as
 * `decode(parseQuery(text))`, without the intermediate object. Only declared parameters are kept, so nothing
 * else is allocated for the ones the schema ignores. The fast path of a GET (`endpoint.ts`).
 */
export function decodeQueryString(codec: QueryCodec, text: string): Record<string, unknown> {
  const fields = codec.fields;
  const raws: Array<string | string[] | undefined> = new Array<string | string[] | undefined>(fields.length);
  forEachPair(text, (name, value) => {
    let at = 0;
    while (at < fields.length && fields[at]!.name !== name) at++;
    if (at < fields.length) raws[at] = withValue(raws[at], value);
  });
  const into: Record<string, unknown> = {};
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    const raw = raws[i];
    if (raw !== undefined) into[field.name] = decodeField(field, raw);
    else if (field.array && field.required === true) into[field.name] = [];
  }
  return into;
}

export function decodeField(field: FieldCodec, raw: unknown): unknown {
  if (field.array) return (Array.isArray(raw) ? raw : [raw]).map((item) => convert(field.kind, item));
  return Array.isArray(raw) ? raw.map((item) => convert(field.kind, item)) : convert(field.kind, raw);
}

const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

function convert(kind: ScalarKind, raw: unknown): unknown {
  if (typeof raw !== 'string') return raw;
  switch (kind) {
    case 'number':
    case 'integer':
      return NUMBER.test(raw) ? Number(raw) : raw;
    case 'boolean':
      return raw === 'true' ? true : raw === 'false' ? false : raw;
    case 'mixed':
      if (NUMBER.test(raw)) return Number(raw);
      return raw === 'true' ? true : raw === 'false' ? false : raw;
    default:
      return raw;
  }
}

function fieldOf(name: string, property: JsonSchema): FieldCodec | undefined {
  const scalar = scalarKind(property);
  if (scalar !== undefined) return { name, kind: scalar, array: false };
  if (property['type'] === 'array' && typeof property['items'] === 'object' && property['items'] !== null) {
    const item = scalarKind(property['items'] as JsonSchema);
    if (item !== undefined) return { name, kind: item, array: true };
  }
  return undefined;
}

function scalarKind(schema: JsonSchema): ScalarKind | undefined {
  const type = schema['type'];
  if (type === 'string' || type === 'number' || type === 'integer' || type === 'boolean') return type;
  const values = Array.isArray(schema['enum'])
    ? (schema['enum'] as unknown[])
    : 'const' in schema
      ? [schema['const']]
      : undefined;
  if (values === undefined || values.length === 0) return undefined;
  if (values.every((v) => typeof v === 'string')) return 'string';
  if (values.every((v) => typeof v === 'number')) return 'number';
  if (values.every((v) => typeof v === 'boolean')) return 'boolean';
  if (values.every((v) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'))
    return 'mixed';
  return undefined;
}

/**
 * The text of a query or path value: scalars as `String` writes them, anything structured as JSON (a query
 * field's schema admits only scalars, so this is the readable form of a value the server will reject).
 */
export function scalarText(value: unknown): string {
  return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
}
