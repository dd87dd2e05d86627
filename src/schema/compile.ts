import type { Schema } from '../core/contract.js';
import { ValidationError, type ValidationIssue } from '../core/errors.js';
import { type GeneratedValidator, UnsupportedSchemaError, generateValidator } from './codegen.js';
import { generatedValidatorOf } from './from-json-schema.js';
import { type JsonSchema, exactJsonSchema, toJsonSchema } from './json-schema.js';

/**
 * Compiled validation for contract schemas. Every request and every message is validated, so the hot path
 * must not interpret a schema tree per call: zod's own parse costs ~5–8 µs for a 1 KB order, a compiled
 * check well under 1 µs. `compile(schema)` therefore derives an exact JSON Schema (`json-schema.ts`), turns
 * it into a specialised JavaScript function (`codegen.ts`), once per schema object, and caches it.
 *
 * Contract:
 * - `validate(value, what?)` returns the value when valid and throws `ValidationError` when not; its issues
 *   name the first failing value (`items[2].qty`) and say what was expected and what came. `what` (e.g.
 *   `'input of inventory.reserve'`) goes into the message.
 * - On the compiled path the value is returned as is, the same object: unknown object keys are accepted and
 *   passed through (zod would strip them; declare `z.strictObject` to reject them). Nothing is copied.
 * - A schema JSON Schema cannot express faithfully (transforms, refinements, defaults, coercion, `trim()`,
 *   URL checks…), a non-zod schema (its JSON Schema, if any, cannot be proven exact), and any schema the
 *   generator declines are validated by the schema's own `~standard.validate`; its output (the transformed
 *   value, defaults filled in) is returned. `compiled` says which path a validator takes.
 * - A schema whose own validation is asynchronous works with `validateAsync`; `validate` and `is` throw a
 *   TypeError saying so.
 */
export interface Validator<T> {
  validate(value: unknown, what?: string): T;
  validateAsync(value: unknown, what?: string): Promise<T>;
  is(value: unknown): value is T;
  /** The schema described as JSON Schema (what it accepts), when it can be. */
  readonly jsonSchema: JsonSchema | undefined;
  /** True when validation runs generated code; false when it falls back to the schema's own validate. */
  readonly compiled: boolean;
}

const cache = new WeakMap<object, Validator<unknown>>();

export function compile<T>(schema: Schema<T>): Validator<T> {
  const hit = cache.get(schema);
  if (hit) return hit as Validator<T>;
  const generated = generatedValidatorOf(schema) ?? generateForZod(schema);
  const jsonSchema = toJsonSchema(schema);
  const validator = generated ? compiledValidator<T>(generated, jsonSchema) : fallbackValidator<T>(schema, jsonSchema);
  cache.set(schema, validator);
  return validator;
}

function generateForZod(schema: Schema): GeneratedValidator | undefined {
  const exact = exactJsonSchema(schema);
  if (exact === undefined) return undefined;
  try {
    // zod writes its own regular expression beside each format, and that pattern is all zod checks.
    return generateValidator(exact, { formats: 'annotation' });
  } catch (error) {
    // Declined keyword, or code generation forbidden (`--disallow-code-generation-from-strings`): stay correct.
    if (error instanceof UnsupportedSchemaError || error instanceof EvalError) return undefined;
    throw error;
  }
}

function compiledValidator<T>(generated: GeneratedValidator, jsonSchema: JsonSchema | undefined): Validator<T> {
  const { check, explain } = generated;
  const validate = (value: unknown, what?: string): T => {
    if (check(value)) return value as T;
    const issues = explain(value);
    throw new ValidationError(issues.length ? issues : [{ path: [], message: 'does not match the schema' }], what);
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
  type Result = Awaited<ReturnType<typeof standard.validate>>;
  const sync = (value: unknown): Result => {
    const result = standard.validate(value);
    if (result instanceof Promise) {
      result.catch(() => undefined); // nobody will await it
      throw new TypeError('this schema validates asynchronously: use validateAsync');
    }
    return result;
  };
  const settle = (result: Result, what?: string): T => {
    if (result.issues === undefined) return result.value;
    throw new ValidationError(result.issues.map(toIssue), what);
  };
  return {
    validate: (value, what) => settle(sync(value), what),
    validateAsync: async (value, what) => settle(await standard.validate(value), what),
    is: (value: unknown): value is T => sync(value).issues === undefined,
    jsonSchema,
    compiled: false,
  };
}

function toIssue(issue: { readonly message: string; readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined }): ValidationIssue {
  const path = (issue.path ?? []).map((p) => {
    const key = typeof p === 'object' ? p.key : p;
    return typeof key === 'symbol' ? key.toString() : key;
  });
  return { path, message: issue.message };
}
