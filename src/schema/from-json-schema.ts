import type { StandardJSONSchemaV1, StandardSchemaV1 } from '@standard-schema/spec';
import type { ValidationError } from '../core/errors.js';
import { type GeneratedValidator, generateValidator } from './codegen.js';
import type { JsonSchema } from './json-schema.js';

/**
 * A contract schema written as plain JSON Schema (imported from an OpenAPI document, shared with a team that
 * does not use zod). `fromJsonSchema(schema)` is a Standard Schema, so it fits anywhere a zod schema does,
 * and a Standard JSON Schema, so it exports itself unchanged. Its validation is the compiled code of
 * `codegen.ts` with plain JSON Schema rules: formats are asserted (also beside a pattern), patterns use
 * the `u` flag. The schema is compiled when it is created, so an unsupported keyword fails there, loudly,
 * instead of being ignored at run time.
 *
 * `T` is what the caller promises valid data looks like; nothing checks that promise against the schema.
 */
export interface JsonSchemaSchema<T> extends StandardSchemaV1<unknown, T> {
  readonly '~standard': StandardSchemaV1.Props<unknown, T> & StandardJSONSchemaV1.Props<unknown, T>;
  readonly jsonSchema: JsonSchema;
}

const generated = new WeakMap<object, GeneratedValidator>();

export function fromJsonSchema<T = unknown>(jsonSchema: JsonSchema): JsonSchemaSchema<T> {
  const validator = generateValidator(jsonSchema, { formats: 'assert', unicodePatterns: true });
  const describe = (options: StandardJSONSchemaV1.Options): Record<string, unknown> => {
    if (options.target !== 'draft-2020-12') throw new TypeError(`a JSON Schema schema exports only draft-2020-12, not ${options.target}`);
    return jsonSchema;
  };
  const schema: JsonSchemaSchema<T> = {
    jsonSchema,
    '~standard': {
      version: 1,
      vendor: 'courier',
      validate: (value) =>
        validator.check(value) ? { value: value as T } : { issues: validator.explain(value).map(toStandardIssue) },
      jsonSchema: { input: describe, output: describe },
    },
  };
  generated.set(schema, validator);
  return schema;
}

/** The compiled validator behind a schema made by `fromJsonSchema`, for `compile` to use directly. */
export function generatedValidatorOf(schema: object): GeneratedValidator | undefined {
  return generated.get(schema);
}

function toStandardIssue(issue: ValidationError['issues'][number]): StandardSchemaV1.Issue {
  return { message: issue.message, path: issue.path };
}
