import { z } from 'zod';
import type { EventDef, Schema, ServiceContract } from '../core/contract.js';
import { PLAIN_OBJECT_KEYWORD } from './codegen.js';
import { isPureZodSchema } from './purity.js';

/**
 * JSON Schema (draft 2020-12) from contract schemas: the description a contract publishes (OpenAPI, AsyncAPI,
 * registries) and the input of Courier's compiled validation.
 *
 * Two questions with different answers:
 * - `toJsonSchema(schema)` — "describe this schema": a best effort for documents. zod converts itself (parts
 *   JSON Schema cannot express, such as a `z.date()`, become `{}`); another validator is asked through the
 *   Standard JSON Schema interface (`~standard.jsonSchema`), a `toJSONSchema()` method or a `jsonSchema`
 *   property. Operation inputs are described as accepted (`io: 'input'`: a field with a default is
 *   optional), outputs and event payloads as produced (`io: 'output'`).
 * - `exactJsonSchema(schema)` — "a JSON Schema that accepts exactly what this schema accepts", or undefined.
 *   Only such a schema may replace the validator on the hot path; see `purity.ts` for what disqualifies one.
 */
export type JsonSchema = Record<string, unknown>;

export interface JsonSchemaOptions {
  /** Describe what the schema accepts (`input`, default) or what it produces (`output`). */
  readonly io?: 'input' | 'output';
}

type AnySchema = Record<string, any> | undefined;

const isZod = (schema: AnySchema): boolean => schema?.['~standard']?.vendor === 'zod' && schema?.['_zod'] !== undefined;

export function toJsonSchema(schema: Schema, options: JsonSchemaOptions = {}): JsonSchema | undefined {
  const io = options.io ?? 'input';
  const s = schema as AnySchema;
  try {
    if (isZod(s))
      return z.toJSONSchema(s as z.ZodType, {
        io,
        unrepresentable: 'any',
        target: 'draft-2020-12',
        override: io === 'output' ? keepObjectsOpen : undefined,
      });
    const converter = s?.['~standard']?.jsonSchema;
    if (typeof converter?.[io] === 'function') return converter[io]({ target: 'draft-2020-12' }) as JsonSchema;
    if (typeof s?.['toJSONSchema'] === 'function') return s['toJSONSchema']() as JsonSchema;
    if (typeof s?.['jsonSchema'] === 'object' && s['jsonSchema'] !== null) return s['jsonSchema'] as JsonSchema;
  } catch {
    // A converter that refuses (unsupported construct, unsupported target) means: no description.
  }
  return undefined;
}

/**
 * zod describes the output of a non-strict object as closed (`additionalProperties: false`) because zod strips
 * unknown keys. Courier's compiled path passes them through, and a closed description would also make every
 * added field look like a breaking change to a schema registry, so only strict objects stay closed.
 */
function keepObjectsOpen(ctx: { zodSchema: unknown; jsonSchema: JsonSchema }): void {
  const def = (ctx.zodSchema as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
  if (def?.['type'] === 'object' && def['catchall'] === undefined && ctx.jsonSchema['additionalProperties'] === false)
    delete ctx.jsonSchema['additionalProperties'];
}

/** zod accepts only plain objects as records (not a `Date`, not a class instance); say so to the code generator. */
function markRecords(ctx: { zodSchema: unknown; jsonSchema: JsonSchema }): void {
  const def = (ctx.zodSchema as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
  if (def?.['type'] === 'record') ctx.jsonSchema[PLAIN_OBJECT_KEYWORD] = true;
}

/** A JSON Schema equivalent to a zod schema as a validator, or undefined when there is none (see `purity.ts`). */
export function exactJsonSchema(schema: Schema): JsonSchema | undefined {
  const s = schema as AnySchema;
  if (!isZod(s) || !isPureZodSchema(s)) return undefined;
  try {
    const { $schema: _dialect, ...body } = z.toJSONSchema(s as z.ZodType, {
      io: 'input',
      unrepresentable: 'throw',
      target: 'draft-2020-12',
      override: markRecords,
    }) as JsonSchema;
    return body;
  } catch {
    return undefined;
  }
}

export interface OperationJsonSchema {
  readonly kind: 'query' | 'command';
  readonly description?: string;
  /** What the operation accepts. */
  readonly input?: JsonSchema;
  /** What the operation returns. */
  readonly output?: JsonSchema;
}

export interface EventJsonSchema {
  /** CloudEvents `type`. */
  readonly type: string;
  readonly version: number;
  readonly description?: string;
  readonly payload?: JsonSchema;
}

export interface ContractJsonSchema {
  readonly service: string;
  readonly operations: Record<string, OperationJsonSchema>;
  readonly events: Record<string, EventJsonSchema>;
}

/**
 * Every operation's input and output and every event's payload as JSON Schema: the seed of OpenAPI and
 * AsyncAPI documents. A schema that cannot be described is left out (`input: undefined`), not guessed.
 */
export function contractJsonSchema(contract: ServiceContract): ContractJsonSchema {
  const operations: Record<string, OperationJsonSchema> = {};
  for (const [name, op] of Object.entries(contract.operations)) {
    operations[name] = {
      kind: op.kind,
      ...(op.description === undefined ? {} : { description: op.description }),
      input: toJsonSchema(op.input, { io: 'input' }),
      output: toJsonSchema(op.output, { io: 'output' }),
    };
  }
  const events: Record<string, EventJsonSchema> = {};
  const declared: Record<string, EventDef> = contract.events;
  for (const [name, ev] of Object.entries(declared)) {
    events[name] = {
      type: ev.type,
      version: ev.version ?? 1,
      ...(ev.description === undefined ? {} : { description: ev.description }),
      payload: toJsonSchema(ev.schema, { io: 'output' }),
    };
  }
  return { service: contract.name, operations, events };
}
