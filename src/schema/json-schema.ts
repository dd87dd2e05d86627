import { z } from 'zod';
import type { EventDef, Schema, ServiceContract } from '../core/contract.js';

/**
 * JSON Schema (draft 2020-12) from a contract schema. zod 4 schemas are converted by zod itself; a schema that
 * brings its own JSON Schema (a `toJSONSchema()` method or a `jsonSchema` property, as TypeBox-style and
 * ArkType-style validators do) is used as given. Returns undefined when no JSON Schema can be had.
 */
export type JsonSchema = Record<string, unknown>;

export function toJsonSchema(schema: Schema): JsonSchema | undefined {
  const anySchema = schema as any;
  if (anySchema?.['~standard']?.vendor === 'zod' && anySchema._zod) {
    try {
      return z.toJSONSchema(anySchema, { io: 'input', unrepresentable: 'throw' }) as JsonSchema;
    } catch {
      return undefined;
    }
  }
  if (typeof anySchema?.toJSONSchema === 'function') return anySchema.toJSONSchema() as JsonSchema;
  if (anySchema?.jsonSchema && typeof anySchema.jsonSchema === 'object')
    return anySchema.jsonSchema as JsonSchema;
  return undefined;
}

export interface ContractJsonSchema {
  readonly service: string;
  readonly operations: Record<string, { kind: 'query' | 'command'; input?: JsonSchema; output?: JsonSchema }>;
  readonly events: Record<string, { type: string; payload?: JsonSchema }>;
}

/** Every operation's input/output and every event's payload as JSON Schema: the seed of OpenAPI and AsyncAPI. */
export function contractJsonSchema(contract: ServiceContract): ContractJsonSchema {
  const operations: ContractJsonSchema['operations'] = {};
  for (const [name, op] of Object.entries(contract.operations)) {
    operations[name] = { kind: op.kind, input: toJsonSchema(op.input), output: toJsonSchema(op.output) };
  }
  const events: ContractJsonSchema['events'] = {};
  const declared: Record<string, EventDef> = contract.events;
  for (const [name, ev] of Object.entries(declared)) {
    events[name] = { type: ev.type, payload: toJsonSchema(ev.schema) };
  }
  return { service: contract.name, operations, events };
}
