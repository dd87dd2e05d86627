import type { OperationDef, ServiceContract, StreamKind } from '../../core/contract.js';
import { type JsonSchema, toJsonSchema } from '../../schema/json-schema.js';

/**
 * The protobuf description of a contract, derived from its JSON Schema: ONE description that both the
 * generated `.proto` (`proto-text.ts`) and Courier's codec (`codec.ts`) are driven by, so what a foreign
 * client compiles from the `.proto` is byte-for-byte what Courier reads and writes.
 *
 * Mapping (JSON Schema of the input as accepted, of the output as produced):
 * - an object with `properties` → a message; fields are numbered 1, 2, … in declaration order, so adding a
 *   property at the END of a schema is wire compatible, and reordering or inserting is not (as in any .proto);
 *   unknown keys (passthrough/catchall objects) are not carried on the gRPC wire;
 * - `string` (incl. formats, enums, string literals, unions of those) → `string`; `integer` → `int64`
 *   (decoded as a JS number: exact up to 2^53, which is what zod's `.int()` allows); `number` → `double`;
 *   `boolean` → `bool`;
 * - `array` of T → `repeated T`; a record (`additionalProperties` schema, no `properties`) → `map<string, V>`;
 * - nullable `X | null` → `optional X` (proto3 explicit presence: absent ⇒ `null`); an optional property →
 *   `optional` (absent ⇒ the key is left out); a required scalar that is absent decodes to its proto3 default
 *   (0, "", false: standard encoders do not send defaults), a required array to `[]`;
 * - anything protobuf cannot express faithfully (unions of different types, tuples, `{}`/unknown, `null`,
 *   arrays of arrays or of nullables, a schema that cannot be described) → a `string` holding JSON text,
 *   marked `// JSON` in the .proto. Foreign clients parse that string; Courier does it for you;
 * - a top-level input or output that is not an object (a string, a number, an array, nothing) is wrapped in a
 *   message with one field, `value = 1`.
 * Names: the service is `PascalCase(service)` in package `sanitize(service)` (override with `package`);
 * methods are `PascalCase(operation)`, messages `<Method>Request` / `<Method>Response`, nested messages
 * `<Parent>_<PascalCase(property)>`. The gRPC path of a method is `/<package>.<Service>/<Method>`.
 */
export type ScalarType = 'string' | 'int64' | 'double' | 'bool';

export type FieldType =
  | { readonly kind: 'scalar'; readonly scalar: ScalarType }
  | { readonly kind: 'json' }
  | { readonly kind: 'message'; readonly message: ProtoMessage }
  | { readonly kind: 'map'; readonly value: FieldType };

/** What an absent field decodes to: the type's default, nothing (key left out), or `null`. */
export type Presence = 'required' | 'optional' | 'nullable';

export interface ProtoField {
  /** The field's name in the .proto (an identifier). */
  readonly name: string;
  /** The JSON property it carries. */
  readonly key: string;
  readonly number: number;
  readonly type: FieldType;
  readonly repeated: boolean;
  readonly presence: Presence;
}

export interface ProtoMessage {
  readonly name: string;
  readonly fields: ProtoField[];
  /** A wrapper around a non-object value: the value is field 1 (`value`), not the message itself. */
  wrapper: boolean;
}

export interface ProtoMethod {
  readonly name: string;
  readonly operation: OperationDef;
  /** `/<package>.<Service>/<Method>`. */
  readonly path: string;
  readonly stream: StreamKind;
  readonly request: ProtoMessage;
  readonly response: ProtoMessage;
}

export interface ProtoService {
  readonly package: string;
  readonly service: string;
  /** `<package>.<Service>`, as in the path and in reflection. */
  readonly fullName: string;
  readonly methods: readonly ProtoMethod[];
  /** Every message, in the order the .proto declares them. */
  readonly messages: readonly ProtoMessage[];
  /** Where the description came from, for the .proto header. */
  readonly contract: string;
}

export interface ProtoOptions {
  /** The proto package. Default: the service name with characters other than `[A-Za-z0-9_]` as `_`. */
  readonly package?: string;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function pascalCase(name: string): string {
  const parts = name.split(/[^A-Za-z0-9]+/).filter((p) => p.length > 0);
  const joined = parts.map((p) => p[0]!.toUpperCase() + p.slice(1)).join('');
  if (joined === '') return 'X';
  return /^[0-9]/.test(joined) ? `X${joined}` : joined;
}

function sanitize(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[A-Za-z_]/.test(s) ? s : `_${s}`;
}

const cache = new WeakMap<ServiceContract, Map<string, ProtoService>>();

/** The protobuf description of `contract` (cached per contract and package). */
export function protoService(contract: ServiceContract, options: ProtoOptions = {}): ProtoService {
  const pkg = options.package ?? sanitize(contract.name);
  if (!pkg.split('.').every((p) => IDENT.test(p))) throw new TypeError(`proto package "${pkg}" is not a dotted identifier`);
  let byPackage = cache.get(contract);
  const hit = byPackage?.get(pkg);
  if (hit !== undefined) return hit;
  const builder = new Builder();
  const service = pascalCase(contract.name);
  const methods: ProtoMethod[] = [];
  const methodNames = new Set<string>();
  for (const op of Object.values(contract.operations)) {
    let name = pascalCase(op.name);
    while (methodNames.has(name)) name = `${name}_`;
    methodNames.add(name);
    methods.push({
      name,
      operation: op,
      path: `/${pkg}.${service}/${name}`,
      stream: op.stream ?? 'unary',
      request: builder.top(`${name}Request`, toJsonSchema(op.input, { io: 'input' })),
      response: builder.top(`${name}Response`, toJsonSchema(op.output, { io: 'output' })),
    });
  }
  const described: ProtoService = {
    package: pkg,
    service,
    fullName: `${pkg}.${service}`,
    methods,
    messages: builder.messages,
    contract: contract.name,
  };
  if (byPackage === undefined) cache.set(contract, (byPackage = new Map()));
  byPackage.set(pkg, described);
  return described;
}

const methodCache = new WeakMap<OperationDef, Map<string, ProtoMethod>>();

/**
 * One operation's method, described without its contract (a client given only an `OperationDef`). The wire
 * format is the same as in `protoService`: field numbers and types do not depend on message names, and the
 * path differs only if two operations of the contract have the same PascalCase name (then the contract
 * suffixes the later one; pass the contract to get that right).
 */
export function protoMethod(operation: OperationDef, options: ProtoOptions = {}): ProtoMethod {
  const pkg = options.package ?? sanitize(operation.service);
  let byPackage = methodCache.get(operation);
  const hit = byPackage?.get(pkg);
  if (hit !== undefined) return hit;
  const builder = new Builder();
  const name = pascalCase(operation.name);
  const method: ProtoMethod = {
    name,
    operation,
    path: `/${pkg}.${pascalCase(operation.service)}/${name}`,
    stream: operation.stream ?? 'unary',
    request: builder.top(`${name}Request`, toJsonSchema(operation.input, { io: 'input' })),
    response: builder.top(`${name}Response`, toJsonSchema(operation.output, { io: 'output' })),
  };
  if (byPackage === undefined) methodCache.set(operation, (byPackage = new Map()));
  byPackage.set(pkg, method);
  return method;
}

/** Turns JSON Schemas into messages, naming them uniquely. */
class Builder {
  readonly messages: ProtoMessage[] = [];
  private readonly names = new Set<string>();

  top(name: string, schema: JsonSchema | undefined): ProtoMessage {
    const message = this.newMessage(name);
    const scope: Scope = { root: schema ?? {}, rootMessage: message, refs: new Map() };
    if (schema !== undefined && isObjectMessage(schema)) {
      this.fill(message, schema, scope);
      return message;
    }
    // Not an object: one field carrying the value.
    message.wrapper = true;
    const field = this.fieldOf('value', 'value', 1, schema ?? {}, message.name, scope, 'optional');
    message.fields.push(field);
    return message;
  }

  private newMessage(wanted: string): ProtoMessage {
    let name = wanted;
    for (let i = 2; this.names.has(name); i++) name = `${wanted}${i}`;
    this.names.add(name);
    const message: ProtoMessage = { name, fields: [], wrapper: false };
    this.messages.push(message);
    return message;
  }

  private fill(message: ProtoMessage, schema: JsonSchema, scope: Scope): void {
    const properties = (schema['properties'] ?? {}) as Record<string, JsonSchema>;
    const required = new Set(Array.isArray(schema['required']) ? (schema['required'] as string[]) : []);
    const used = new Set<string>();
    let number = 0;
    for (const key of Object.keys(properties)) {
      number++;
      let name = IDENT.test(key) ? key : sanitize(key);
      while (used.has(name)) name = `${name}_`;
      used.add(name);
      const presence: Presence = required.has(key) ? 'required' : 'optional';
      message.fields.push(this.fieldOf(name, key, number, properties[key]!, message.name, scope, presence));
    }
  }

  private fieldOf(
    name: string,
    key: string,
    number: number,
    raw: JsonSchema,
    parent: string,
    scope: Scope,
    presence: Presence,
  ): ProtoField {
    let schema = resolve(raw, scope);
    const nonNull = withoutNull(schema);
    if (nonNull !== undefined) {
      raw = nonNull; // a `$ref` inside `X | null` still names the message X
      schema = resolve(nonNull, scope);
      if (presence === 'required') presence = 'nullable';
    }
    if (schema['type'] === 'array' && schema['prefixItems'] === undefined && isSchema(schema['items'])) {
      const items = resolve(schema['items'], scope);
      let itemType = withoutNull(items) !== undefined || items['type'] === 'array' ? JSON_TYPE : this.typeOf(items, schema['items'], parent, key, scope);
      if (itemType.kind === 'map') itemType = JSON_TYPE; // map fields cannot be repeated
      // An optional array that is absent stays absent; a required (or nullable) one decodes as [] / null.
      return { name, key, number, type: itemType, repeated: true, presence };
    }
    return { name, key, number, type: this.typeOf(schema, raw, parent, key, scope), repeated: false, presence };
  }

  /** The type of a (non-array, non-nullable) schema. */
  private typeOf(schema: JsonSchema, raw: JsonSchema, parent: string, key: string, scope: Scope): FieldType {
    const scalar = scalarOf(schema);
    if (scalar !== undefined) return { kind: 'scalar', scalar };
    if (isObjectMessage(schema)) return { kind: 'message', message: this.messageFor(schema, raw, parent, key, scope) };
    if (isRecord(schema)) {
      const value = resolve(schema['additionalProperties'] as JsonSchema, scope);
      const valueType =
        withoutNull(value) !== undefined || value['type'] === 'array' || isRecord(value)
          ? JSON_TYPE
          : this.typeOf(value, schema['additionalProperties'] as JsonSchema, parent, `${key}Value`, scope);
      return { kind: 'map', value: valueType };
    }
    return JSON_TYPE;
  }

  private messageFor(schema: JsonSchema, raw: JsonSchema, parent: string, key: string, scope: Scope): ProtoMessage {
    const ref = typeof raw['$ref'] === 'string' ? raw['$ref'] : undefined;
    if (ref === '#') return scope.rootMessage;
    if (ref !== undefined) {
      const known = scope.refs.get(ref);
      if (known !== undefined) return known;
    }
    const name = ref !== undefined ? `${scope.rootMessage.name}_${pascalCase(ref.slice(ref.lastIndexOf('/') + 1))}` : `${parent}_${pascalCase(key)}`;
    const message = this.newMessage(name);
    if (ref !== undefined) scope.refs.set(ref, message); // before filling: a recursive schema refers to itself
    this.fill(message, schema, scope);
    return message;
  }
}

interface Scope {
  readonly root: JsonSchema;
  readonly rootMessage: ProtoMessage;
  readonly refs: Map<string, ProtoMessage>;
}

const JSON_TYPE: FieldType = { kind: 'json' };

function isSchema(value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Follow a local `$ref` (`#` or `#/$defs/…`); other refs are left for the JSON fallback. */
function resolve(schema: JsonSchema, scope: Scope): JsonSchema {
  let current = schema;
  for (let hops = 0; hops < 32 && typeof current['$ref'] === 'string'; hops++) {
    const ref = current['$ref'];
    if (ref === '#') return scope.root;
    const match = /^#\/(\$defs|definitions)\/([^/]+)$/.exec(ref);
    const defs = match ? (scope.root[match[1]!] as Record<string, JsonSchema> | undefined) : undefined;
    const target = match && defs ? defs[decodeURIComponent(match[2]!)] : undefined;
    if (target === undefined) return {};
    current = target;
  }
  return current;
}

/** For `X | null` (anyOf/oneOf of one schema and null, or `type: [T, 'null']`): X. */
function withoutNull(schema: JsonSchema): JsonSchema | undefined {
  const members = (schema['anyOf'] ?? schema['oneOf']) as JsonSchema[] | undefined;
  if (Array.isArray(members) && members.length === 2) {
    const rest = members.filter((m) => !(isSchema(m) && m['type'] === 'null' && Object.keys(m).length === 1));
    if (rest.length === 1 && isSchema(rest[0])) return rest[0];
  }
  const type = schema['type'];
  if (Array.isArray(type) && type.length === 2 && type.includes('null')) {
    return { ...schema, type: type.find((t) => t !== 'null') };
  }
  return undefined;
}

function scalarOf(schema: JsonSchema): ScalarType | undefined {
  switch (schema['type']) {
    case 'string':
      return 'string';
    case 'integer':
      return 'int64';
    case 'number':
      return 'double';
    case 'boolean':
      return 'bool';
    default:
      break;
  }
  // A union of string literals (or of same-typed scalars) is that scalar.
  const members = schema['anyOf'] ?? schema['oneOf'];
  if (Array.isArray(members) && members.length > 0) {
    const types = members.map((m) => (isSchema(m) ? scalarOf(m) : undefined));
    if (types[0] !== undefined && types.every((t) => t === types[0])) return types[0];
  }
  if (Array.isArray(schema['enum']) && schema['enum'].length > 0) {
    const values = schema['enum'] as unknown[];
    if (values.every((v) => typeof v === 'string')) return 'string';
    if (values.every((v) => typeof v === 'boolean')) return 'bool';
    if (values.every((v) => typeof v === 'number' && Number.isInteger(v))) return 'int64';
  }
  return undefined;
}

function isObjectMessage(schema: JsonSchema): boolean {
  if (schema['type'] !== 'object') return false;
  if (schema['properties'] !== undefined) return true;
  const extra = schema['additionalProperties'];
  return extra === undefined || extra === false;
}

function isRecord(schema: JsonSchema): boolean {
  return schema['type'] === 'object' && schema['properties'] === undefined && isSchema(schema['additionalProperties']);
}
