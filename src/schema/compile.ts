import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import type { Schema } from '../core/contract.js';
import { ValidationError, type ValidationIssue } from '../core/errors.js';
import { generateCheck } from './codegen.js';
import { type JsonSchema, toJsonSchema } from './json-schema.js';
import { isPureZodSchema } from './purity.js';

/**
 * Compiled validation for contract schemas. The hot path (every request, every message) must not interpret a
 * schema tree per call: zod's own parse costs ~5–8 µs for a 1 KB order on our machines, a compiled check
 * under 1 µs. So `compile` turns a schema into JSON Schema and then into a specialised function (ajv's code
 * generator in `codegen.ts`), once per schema. Where a failing value must be explained, ajv (compiled from the same
 * JSON Schema) finds the path; it is also the fast path for JSON Schemas our generator does not cover.
 *
 * Contract:
 * - `validate(value)` returns the value when valid and throws `ValidationError` (with the path of the failing
 *   value) when not. On the compiled path the value is returned as is: unknown object keys are accepted and
 *   passed through (zod would strip them; declare `z.strictObject` to reject them).
 * - Schemas JSON Schema cannot express faithfully (transforms, refinements, defaults, coercion, `trim()`…) and
 *   Standard Schemas with no JSON Schema use the schema's own `~standard.validate`; their output (transformed
 *   value) is returned. `compiled` says which path a validator takes.
 * - A schema whose own validation is asynchronous works with `validateAsync`; `validate` throws a TypeError.
 */
export interface Validator<T> {
  validate(value: unknown, what?: string): T;
  validateAsync(value: unknown, what?: string): Promise<T>;
  is(value: unknown): value is T;
  readonly jsonSchema: JsonSchema | undefined;
  /** True when validation runs compiled code; false when it falls back to the schema's own validate. */
  readonly compiled: boolean;
}

const cache = new WeakMap<object, Validator<any>>();

let ajv: Ajv2020 | undefined;
function compiler(): Ajv2020 {
  // Formats are enforced through the `pattern` zod emits beside each `format`; unknown keywords are ignored.
  ajv ??= new Ajv2020({ strict: false, allErrors: false, validateFormats: false, allowUnionTypes: true });
  return ajv;
}

export function compile<T>(schema: Schema<T>): Validator<T> {
  const hit = cache.get(schema);
  if (hit) return hit as Validator<T>;
  const jsonSchema = toJsonSchema(schema);
  const pure =
    (schema as any)?.['~standard']?.vendor === 'zod' ? isPureZodSchema(schema) : jsonSchema !== undefined;
  const validator =
    pure && jsonSchema ? compiledValidator<T>(jsonSchema) : fallbackValidator<T>(schema, jsonSchema);
  cache.set(schema, validator);
  return validator;
}

function compiledValidator<T>(jsonSchema: JsonSchema): Validator<T> {
  const { $schema: _ignored, ...body } = jsonSchema;
  const explain: ValidateFunction = compiler().compile(body);
  const check: (value: unknown) => boolean = generateCheck(body) ?? explain;
  const validate = (value: unknown, what?: string): T => {
    if (check(value)) return value as T;
    explain(value);
    throw new ValidationError(issuesFromAjv(explain.errors), what);
  };
  return {
    validate,
    validateAsync: async (value, what) => validate(value, what),
    is: (value: unknown): value is T => check(value),
    jsonSchema,
    compiled: true,
  };
}

function fallbackValidator<T>(schema: Schema<T>, jsonSchema: JsonSchema | undefined): Validator<T> {
  const standard = schema['~standard'];
  const settle = (result: Awaited<ReturnType<typeof standard.validate>>, what?: string): T => {
    if (result.issues === undefined) return result.value;
    throw new ValidationError(
      result.issues.map((issue) => ({
        path: (issue.path ?? []).map((p) => (typeof p === 'object' ? p.key : p)) as Array<string | number>,
        message: issue.message,
      })),
      what,
    );
  };
  const validate = (value: unknown, what?: string): T => {
    const result = standard.validate(value);
    if (result instanceof Promise)
      throw new TypeError('this schema validates asynchronously: use validateAsync');
    return settle(result, what);
  };
  return {
    validate,
    validateAsync: async (value, what) => settle(await standard.validate(value), what),
    is: (value: unknown): value is T => {
      const result = standard.validate(value);
      if (result instanceof Promise)
        throw new TypeError('this schema validates asynchronously: use validateAsync');
      return result.issues === undefined;
    },
    jsonSchema,
    compiled: false,
  };
}

function issuesFromAjv(errors: ErrorObject[] | null | undefined): ValidationIssue[] {
  if (!errors || errors.length === 0) return [{ path: [], message: 'does not match schema' }];
  return errors.map((e) => {
    const path: Array<string | number> =
      e.instancePath === '' ? [] : e.instancePath.slice(1).split('/').map(unpointer);
    if (e.keyword === 'required') path.push((e.params as { missingProperty: string }).missingProperty);
    if (e.keyword === 'additionalProperties')
      path.push((e.params as { additionalProperty: string }).additionalProperty);
    return { path, message: messageOf(e) };
  });
}

function unpointer(segment: string): string | number {
  const s = segment.replace(/~1/g, '/').replace(/~0/g, '~');
  return /^(0|[1-9]\d*)$/.test(s) ? Number(s) : s;
}

function messageOf(e: ErrorObject): string {
  switch (e.keyword) {
    case 'required':
      return 'is required';
    case 'type':
      return `expected ${String((e.params as { type: string }).type)}`;
    case 'enum':
      return `expected one of ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`;
    case 'additionalProperties':
      return 'is not allowed';
    default:
      return e.message ?? `fails ${e.keyword}`;
  }
}
