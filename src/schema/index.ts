/** Courier's schema layer: compiled validation of contract schemas and their JSON Schema export. */
export { compile, type Validator } from './compile.js';
export { fromJsonSchema, type JsonSchemaSchema } from './from-json-schema.js';
export {
  contractJsonSchema,
  exactJsonSchema,
  toJsonSchema,
  type ContractJsonSchema,
  type EventJsonSchema,
  type JsonSchema,
  type JsonSchemaOptions,
  type OperationJsonSchema,
} from './json-schema.js';
export { isPureZodSchema } from './purity.js';
export { UnsupportedSchemaError, generateValidator, type GeneratedValidator, type GenerateOptions } from './codegen.js';
