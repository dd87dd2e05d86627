export { compile, type Validator } from './compile.js';
export { contractJsonSchema, toJsonSchema, type ContractJsonSchema, type JsonSchema } from './json-schema.js';
export { isPureZodSchema } from './purity.js';
