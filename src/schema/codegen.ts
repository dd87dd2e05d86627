/**
 * Courier's JSON Schema → JavaScript compiler. `generateValidator(schema)` writes, once, two specialised
 * functions for the schema and returns them:
 *
 * - `check(value): boolean` — the hot path. Straight-line code with the schema's constants baked in: no
 *   schema tree is walked per call and no error bookkeeping is done.
 * - `explain(value): ValidationIssue[]` — the rare path, run only after `check` said no. It is generated from
 *   the same description with the same tests in the same order, so it fails exactly where `check` fails, and
 *   it names the first failing value: `{ path: ['items', 2, 'qty'], message: 'expected integer, got "three"' }`.
 *   Unions are explained by the branch the value was evidently meant for (its discriminator, or its type).
 *
 * Semantics follow zod where JSON Schema and zod differ, because contracts are written in zod and the compiled
 * path must give zod's verdict: numbers must be finite, string lengths count code points, a property whose value
 * is `undefined` counts as absent, patterns run without the `u` flag (as zod's own regular expressions do) unless
 * `unicodePatterns` is set. Discriminated unions dispatch on the discriminator instead of trying each branch.
 *
 * Safety: property names, patterns, enum values and messages reach the generated code only as entries of a
 * constants array (`C[3]`), never as source text; the only schema-derived text in the source is property names
 * that match a plain identifier pattern (`x.orderId`) and numbers checked to be finite. Properties named like
 * `Object.prototype` members (`__proto__`, `constructor`…) are read as own properties only.
 *
 * A keyword the generator does not implement (`if`/`then`, `patternProperties`, `uniqueItems`, an unknown
 * format…) makes it throw `UnsupportedSchemaError` rather than ignore the keyword: the caller then falls back
 * to a validator that understands the schema. Never lax, only sometimes slower.
 */
import type { ValidationIssue } from '../core/errors.js';
import { FORMATS } from './formats.js';
import type { JsonSchema } from './json-schema.js';
import { codePoints, isMultipleOf, isPlainObject, numberOrType, shown, typeName } from './runtime.js';

export interface GeneratedValidator {
  readonly check: (value: unknown) => boolean;
  /** The issues of an invalid value (the first failing value); `[]` for a valid one. */
  readonly explain: (value: unknown) => ValidationIssue[];
}

export interface GenerateOptions {
  /**
   * `'assert'` (plain JSON Schema, the default): every `format` is checked; one Courier does not know makes the
   * schema unsupported. `'annotation'`: formats are ignored, because something else enforces them. That is
   * the case for zod: it writes its own regular expression as a `pattern` for every format it emits, that
   * pattern is its whole check, and `purity.ts` admits only such formats.
   */
  readonly formats?: 'assert' | 'annotation';
  /** Compile patterns with the `u` flag (JSON Schema's regex dialect) instead of zod's flagless ones. */
  readonly unicodePatterns?: boolean;
}

/**
 * Courier's one extension keyword: `{ "x-plain-object": true }` requires an object to be plain (its prototype
 * `Object.prototype` or null), as zod requires of records but not of objects. JSON Schema cannot say this
 * and JSON data never needs it; only in-process values (a `Date`, a class instance) can tell the difference.
 */
export const PLAIN_OBJECT_KEYWORD = 'x-plain-object';

export class UnsupportedSchemaError extends Error {
  override readonly name = 'UnsupportedSchemaError';
}

/** Compile `schema`; throws `UnsupportedSchemaError` when it uses something the generator does not implement. */
export function generateValidator(schema: JsonSchema | boolean, options: GenerateOptions = {}): GeneratedValidator {
  return new Generator(schema, options).build();
}

type Mode = 'check' | 'explain';

const TYPES = new Set(['string', 'number', 'integer', 'boolean', 'null', 'array', 'object']);
/** Keywords with no effect on validity. */
const ANNOTATIONS = new Set([
  '$schema',
  '$id',
  'id',
  '$comment',
  'title',
  'description',
  'default',
  'examples',
  'example',
  'readOnly',
  'writeOnly',
  'deprecated',
  'contentEncoding',
  'contentMediaType',
  '$defs',
  'definitions',
]);
const ASSERTIONS = new Set([
  'type',
  'nullable',
  'enum',
  'const',
  '$ref',
  'anyOf',
  'oneOf',
  'allOf',
  'not',
  'minLength',
  'maxLength',
  'pattern',
  'format',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'items',
  'prefixItems',
  'additionalItems',
  'minItems',
  'maxItems',
  'uniqueItems',
  'properties',
  'required',
  'additionalProperties',
  'propertyNames',
  'minProperties',
  'maxProperties',
  PLAIN_OBJECT_KEYWORD,
]);
/** Numeric formats: range checks for the 32-bit ones, annotations (OpenAPI vocabulary) for the rest. */
const NUMBER_FORMATS = new Map<string, [number, number] | undefined>([
  ['int32', [-(2 ** 31), 2 ** 31 - 1]],
  ['uint32', [0, 2 ** 32 - 1]],
  ['int64', undefined],
  ['float', undefined],
  ['double', undefined],
  ['float32', undefined],
  ['float64', undefined],
]);
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const TYPE_TEST: Record<string, string> = {
  string: `typeof x === 'string'`,
  number: `typeof x === 'number' && Number.isFinite(x)`,
  integer: `typeof x === 'number' && Number.isInteger(x)`,
  boolean: `typeof x === 'boolean'`,
  null: `x === null`,
  array: `Array.isArray(x)`,
  object: `typeof x === 'object' && x !== null && !Array.isArray(x)`,
};

const isObject = (v: unknown): v is JsonSchema => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPrimitive = (v: unknown) => v === null || ['string', 'number', 'boolean'].includes(typeof v);

class Generator {
  private readonly consts: unknown[] = [];
  private readonly constIndex = new Map<unknown, number>();
  private readonly functions: string[] = [];
  private readonly names: Record<Mode, Map<unknown, string>> = { check: new Map(), explain: new Map() };
  private counter = 0;

  constructor(
    private readonly root: JsonSchema | boolean,
    private readonly options: GenerateOptions,
  ) {}

  build(): GeneratedValidator {
    const check = this.fn(this.root, 'check');
    const explain = this.fn(this.root, 'explain');
    const source = [
      'let I = [];',
      'function R(p, m) { I.push({ path: p, message: m }); return false; }',
      'function RK(p, k, m) { I.push({ path: [...p, k], message: m }); return false; }',
      ...this.functions,
      `return { check: ${check}, explain(x) { I = []; ${explain}(x, []); const out = I; I = []; return out; } };`,
    ].join('\n');
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the point of this module; see the header
    const factory = new Function('C', 'H', 'L', 'M', 'T', 'S', 'N', 'P', source) as (
      ...args: unknown[]
    ) => GeneratedValidator;
    return factory(this.consts, Object.hasOwn, codePoints, isMultipleOf, typeName, shown, numberOrType, isPlainObject);
  }

  // ---- building blocks -------------------------------------------------------------------------------------

  /** A reference to `value` in the constants array: the only way schema text reaches generated code. */
  private constant(value: unknown): string {
    const primitive = isPrimitive(value);
    const known = primitive ? this.constIndex.get(value) : undefined;
    if (known !== undefined) return `C[${known}]`;
    this.consts.push(value);
    if (primitive) this.constIndex.set(value, this.consts.length - 1);
    return `C[${this.consts.length - 1}]`;
  }

  /** A finite number as source text. */
  private num(value: unknown, what: string): string {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new UnsupportedSchemaError(`${what} is not a finite number`);
    return String(value);
  }

  private count(value: unknown, what: string): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0)
      throw new UnsupportedSchemaError(`${what} is not a non-negative integer`);
    return value;
  }

  /** The statement that reports a failure of the current value (or of its property `key`, a source expression). */
  private fail(mode: Mode, message: string, key?: string): string {
    if (mode === 'check') return 'return false;';
    return key === undefined ? `return R(p, ${message});` : `return RK(p, ${key}, ${message});`;
  }

  /** A message constant, optionally followed by the rejected value: `T` its type, `S` its value, `N` a number or a type. */
  private msg(text: string, then?: 'T' | 'S' | 'N', of = 'x'): string {
    return then === undefined ? this.constant(text) : `${this.constant(text)} + ${then}(${of})`;
  }

  /** An expression, true when `value` (source) is valid against `schema`; in explain mode it reports under `key`. */
  private sub(mode: Mode, schema: unknown, value: string, key?: string): string {
    const name = this.fn(schema, mode);
    if (mode === 'check') return `${name}(${value})`;
    return `${name}(${value}, ${key === undefined ? 'p' : `[...p, ${key}]`})`;
  }

  /** The name of the generated function for `schema` in `mode`, generating it on first use (recursion-safe). */
  private fn(schema: unknown, mode: Mode): string {
    const known = this.names[mode].get(schema);
    if (known) return known;
    const name = `${mode === 'check' ? 'c' : 'e'}${this.counter++}`;
    this.names[mode].set(schema, name);
    const body = this.body(schema, mode);
    this.functions.push(`function ${name}(x${mode === 'explain' ? ', p' : ''}) {\n${body}\nreturn true;\n}`);
    return name;
  }

  private resolve(pointer: unknown): unknown {
    if (typeof pointer !== 'string' || !pointer.startsWith('#')) throw new UnsupportedSchemaError(`$ref ${String(pointer)}`);
    let target: unknown = this.root;
    if (pointer === '#') return target;
    if (!pointer.startsWith('#/')) throw new UnsupportedSchemaError(`$ref ${pointer}`);
    for (const raw of pointer.slice(2).split('/')) {
      const part = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      if (typeof target !== 'object' || target === null || !Object.hasOwn(target, part))
        throw new UnsupportedSchemaError(`$ref ${pointer} does not resolve`);
      target = (target as Record<string, unknown>)[part];
    }
    return target;
  }

  /** Does `schema` accept every value, `undefined` included? (`true`, `{}`, annotations only.) */
  private acceptsAnything(schema: unknown): boolean {
    return schema === true || (isObject(schema) && Object.keys(schema).every((k) => ANNOTATIONS.has(k)));
  }

  /** A source expression that reads property `key` of `x`: own properties only for prototype names. */
  private read(key: string, object = 'x'): string {
    if (key in Object.prototype || key === '__proto__')
      return `(H(${object}, ${this.constant(key)}) ? ${object}[${this.constant(key)}] : undefined)`;
    return IDENTIFIER.test(key) ? `${object}.${key}` : `${object}[${this.constant(key)}]`;
  }

  // ---- schema bodies ---------------------------------------------------------------------------------------

  private body(schema: unknown, mode: Mode): string {
    if (schema === true) return '';
    if (schema === false) return this.fail(mode, this.msg('no value is allowed here'));
    if (!isObject(schema)) throw new UnsupportedSchemaError('a schema must be an object or a boolean');
    for (const key of Object.keys(schema))
      if (!ASSERTIONS.has(key) && !ANNOTATIONS.has(key)) throw new UnsupportedSchemaError(`keyword "${key}"`);
    const s = schema;
    const lines: string[] = [];
    if (s['nullable'] === true) lines.push('if (x === null) return true;');
    if (s['$ref'] !== undefined) lines.push(`if (!${this.sub(mode, this.resolve(s['$ref']), 'x')}) return false;`);
    lines.push(...this.typed(s, mode));
    if (s['enum'] !== undefined) lines.push(this.enumCheck(s['enum'], mode));
    if ('const' in s) {
      if (!isPrimitive(s['const'])) throw new UnsupportedSchemaError('const with an object or array value');
      const expected = this.constant(s['const']);
      lines.push(`if (x !== ${expected}) ${this.fail(mode, this.msg(`expected ${JSON.stringify(s['const'])}, got `, 'S'))}`);
    }
    if (s['anyOf'] !== undefined) lines.push(this.union(this.list(s['anyOf'], 'anyOf'), 'anyOf', mode));
    if (s['oneOf'] !== undefined) lines.push(this.union(this.list(s['oneOf'], 'oneOf'), 'oneOf', mode));
    if (s['allOf'] !== undefined)
      for (const part of this.list(s['allOf'], 'allOf')) lines.push(`if (!${this.sub(mode, part, 'x')}) return false;`);
    if (s['not'] !== undefined) {
      const message = this.acceptsAnything(s['not']) ? 'no value is allowed here' : 'matches a schema it must not match';
      lines.push(`if (${this.sub('check', s['not'], 'x')}) ${this.fail(mode, this.msg(message))}`);
    }
    return lines.join('\n');
  }

  private list(value: unknown, keyword: string): unknown[] {
    if (!Array.isArray(value) || value.length === 0) throw new UnsupportedSchemaError(`${keyword} must be a non-empty array`);
    return value;
  }

  private enumCheck(values: unknown, mode: Mode): string {
    if (!Array.isArray(values) || !values.every(isPrimitive)) throw new UnsupportedSchemaError('enum with object or array values');
    const message = this.msg(`expected one of ${values.map((v) => JSON.stringify(v)).join(', ')}, got `, 'S');
    const test =
      values.length === 0
        ? 'true'
        : values.length <= 4
          ? values.map((v) => `x !== ${this.constant(v)}`).join(' && ')
          : `!${this.constant(new Set(values))}.has(x)`;
    return `if (${test}) ${this.fail(mode, message)}`;
  }

  /** Declared types and the keywords that apply per instance type, each group under one type test. */
  private typed(s: JsonSchema, mode: Mode): string[] {
    const rawType = s['type'];
    const declared = rawType === undefined ? undefined : Array.isArray(rawType) ? rawType : [rawType];
    if (declared && !declared.every((t) => typeof t === 'string' && TYPES.has(t)))
      throw new UnsupportedSchemaError(`type ${JSON.stringify(rawType)}`);
    const has = (t: string) => declared === undefined || declared.includes(t);

    const groups: Array<{ test: string; checks: string[] }> = [];
    const strings = this.stringChecks(s, mode);
    if (has('string') && (declared || strings.length)) groups.push({ test: TYPE_TEST['string']!, checks: strings });
    const numbers = this.numberChecks(s, mode);
    if (has('number') || has('integer')) {
      const integerOnly = declared !== undefined && declared.includes('integer') && !declared.includes('number');
      if (declared || numbers.length) groups.push({ test: TYPE_TEST[integerOnly ? 'integer' : 'number']!, checks: numbers });
    }
    if (declared?.includes('boolean')) groups.push({ test: TYPE_TEST['boolean']!, checks: [] });
    if (declared?.includes('null')) groups.push({ test: TYPE_TEST['null']!, checks: [] });
    const arrays = this.arrayChecks(s, mode);
    if (has('array') && (declared || arrays.length)) groups.push({ test: TYPE_TEST['array']!, checks: arrays });
    const objects = this.objectChecks(s, mode);
    if (s[PLAIN_OBJECT_KEYWORD] === true) {
      objects.unshift(`if (!P(x)) ${this.fail(mode, this.msg('expected a plain object, got ', 'T'))}`);
    }
    if (has('object') && (declared || objects.length)) groups.push({ test: TYPE_TEST['object']!, checks: objects });

    if (declared === undefined) {
      // No declared type: each keyword constrains only values of its own type (JSON Schema semantics).
      return groups.filter((g) => g.checks.length > 0).map((g) => `if (${g.test}) {\n${g.checks.join('\n')}\n}`);
    }
    // A value of none of the declared types is invalid; a value of one of them runs that type's checks.
    const expected = declared.join(' or ');
    const wrongType =
      declared.length === 1 && declared[0] === 'integer'
        ? this.msg(`expected integer, got `, 'N')
        : this.msg(`expected ${expected}, got `, 'T');
    return [
      `ok: {\n${groups.map((g) => `if (${g.test}) {\n${g.checks.join('\n')}\nbreak ok;\n}`).join('\n')}\n${this.fail(mode, wrongType)}\n}`,
    ];
  }

  private stringChecks(s: JsonSchema, mode: Mode): string[] {
    const out: string[] = [];
    // Code points ≤ UTF-16 units ≤ 2 × code points, so `L` (a code point count) runs only in the ambiguous band.
    if (s['minLength'] !== undefined) {
      const min = this.count(s['minLength'], 'minLength');
      if (min > 0)
        out.push(
          `if (x.length < ${min} || (x.length < ${2 * min} && L(x) < ${min})) ${this.fail(mode, this.msg(`expected at least ${min} characters, got `, 'S'))}`,
        );
    }
    if (s['maxLength'] !== undefined) {
      const max = this.count(s['maxLength'], 'maxLength');
      out.push(`if (x.length > ${max} && L(x) > ${max}) ${this.fail(mode, this.msg(`expected at most ${max} characters`))}`);
    }
    const format = s['format'];
    if (format !== undefined && typeof format !== 'string') throw new UnsupportedSchemaError('format must be a string');
    const pattern = s['pattern'];
    if (pattern !== undefined) {
      if (typeof pattern !== 'string') throw new UnsupportedSchemaError('pattern must be a string');
      const message = format === undefined ? `does not match the pattern ${pattern}` : `not a valid ${format}`;
      out.push(`if (!${this.constant(this.regex(pattern))}.test(x)) ${this.fail(mode, this.msg(message))}`);
    }
    if (format !== undefined && this.options.formats !== 'annotation' && !NUMBER_FORMATS.has(format)) {
      if (!FORMATS.has(format)) throw new UnsupportedSchemaError(`format "${format}"`);
      out.push(`if (!${this.constant(FORMATS.get(format))}(x)) ${this.fail(mode, this.msg(`not a valid ${format}`))}`);
    }
    return out;
  }

  private regex(pattern: string): RegExp {
    try {
      return new RegExp(pattern, this.options.unicodePatterns ? 'u' : '');
    } catch {
      throw new UnsupportedSchemaError(`pattern ${pattern} is not a JavaScript regular expression`);
    }
  }

  private numberChecks(s: JsonSchema, mode: Mode): string[] {
    const out: string[] = [];
    const bound = (keyword: string, op: string, words: string) => {
      const value = s[keyword];
      if (value === undefined) return;
      if (typeof value === 'boolean') throw new UnsupportedSchemaError(`boolean ${keyword} (draft 4)`);
      const n = this.num(value, keyword);
      out.push(`if (x ${op} ${n}) ${this.fail(mode, this.msg(`expected ${words} ${n}, got `, 'S'))}`);
    };
    bound('minimum', '<', '≥');
    bound('maximum', '>', '≤');
    bound('exclusiveMinimum', '<=', '>');
    bound('exclusiveMaximum', '>=', '<');
    if (s['multipleOf'] !== undefined) {
      const step = this.num(s['multipleOf'], 'multipleOf');
      if (Number(step) <= 0) throw new UnsupportedSchemaError('multipleOf must be positive');
      out.push(`if (!M(x, ${step})) ${this.fail(mode, this.msg(`expected a multiple of ${step}, got `, 'S'))}`);
    }
    const range =
      typeof s['format'] === 'string' && this.options.formats !== 'annotation' ? NUMBER_FORMATS.get(s['format']) : undefined;
    if (range)
      out.push(
        `if (x < ${range[0]} || x > ${range[1]} || !Number.isInteger(x)) ${this.fail(mode, this.msg(`not a valid ${String(s['format'])}, got `, 'S'))}`,
      );
    return out;
  }

  private arrayChecks(s: JsonSchema, mode: Mode): string[] {
    const out: string[] = [];
    if (s['minItems'] !== undefined) {
      const min = this.count(s['minItems'], 'minItems');
      if (min > 0) out.push(`if (x.length < ${min}) ${this.fail(mode, this.msg(`expected at least ${min} items, got `, 'S', 'x.length'))}`);
    }
    if (s['maxItems'] !== undefined) {
      const max = this.count(s['maxItems'], 'maxItems');
      out.push(`if (x.length > ${max}) ${this.fail(mode, this.msg(`expected at most ${max} items, got `, 'S', 'x.length'))}`);
    }
    if (s['uniqueItems'] !== undefined && s['uniqueItems'] !== false) throw new UnsupportedSchemaError('uniqueItems');
    // draft 2020-12: prefixItems + items; draft 07: items (array) + additionalItems.
    const legacyTuple = Array.isArray(s['items']);
    const prefix = (legacyTuple ? s['items'] : s['prefixItems']) as unknown[] | undefined;
    if (prefix !== undefined && !Array.isArray(prefix)) throw new UnsupportedSchemaError('prefixItems must be an array');
    const rest = legacyTuple ? s['additionalItems'] : s['items'];
    (prefix ?? []).forEach((item, i) => {
      if (!this.acceptsAnything(item)) out.push(`if (x.length > ${i} && !${this.sub(mode, item, `x[${i}]`, String(i))}) return false;`);
    });
    const from = prefix?.length ?? 0;
    if (rest === false) {
      out.push(`if (x.length > ${from}) ${this.fail(mode, this.msg(`expected at most ${from} items, got `, 'S', 'x.length'))}`);
    } else if (rest !== undefined && !this.acceptsAnything(rest)) {
      out.push(`for (let i = ${from}; i < x.length; i++) if (!${this.sub(mode, rest, 'x[i]', 'i')}) return false;`);
    }
    return out;
  }

  private objectChecks(s: JsonSchema, mode: Mode): string[] {
    const out: string[] = [];
    const properties = s['properties'] ?? {};
    if (!isObject(properties)) throw new UnsupportedSchemaError('properties must be an object');
    const required = s['required'] ?? [];
    if (!Array.isArray(required) || !required.every((k) => typeof k === 'string'))
      throw new UnsupportedSchemaError('required must be an array of strings');
    const requiredSet = new Set(required);

    for (const [key, sub] of Object.entries(properties)) {
      const isRequired = requiredSet.has(key);
      const anything = this.acceptsAnything(sub);
      if (anything && !isRequired) continue;
      const k = this.constant(key);
      const missing = this.fail(mode, this.msg('is required'), k);
      // zod: a property whose value is undefined is absent, except that a schema accepting anything is
      // satisfied by a present key holding undefined.
      const present = key in Object.prototype || key === '__proto__' ? `H(x, ${k})` : `${k} in x`;
      const whenUndefined = isRequired ? (anything ? `if (!(${present})) ${missing}` : missing) : '';
      const whenDefined = anything ? '' : `if (!${this.sub(mode, sub, 'v', k)}) return false;`;
      out.push(`{\nconst v = ${this.read(key)};\nif (v === undefined) { ${whenUndefined} } else { ${whenDefined} }\n}`);
    }
    for (const key of requiredSet) {
      if (Object.hasOwn(properties, key)) continue;
      const k = this.constant(key);
      out.push(`if (!H(x, ${k})) ${this.fail(mode, this.msg('is required'), k)}`);
    }

    const extra = s['additionalProperties'];
    const names = s['propertyNames'];
    const minProps = s['minProperties'] === undefined ? undefined : this.count(s['minProperties'], 'minProperties');
    const maxProps = s['maxProperties'] === undefined ? undefined : this.count(s['maxProperties'], 'maxProperties');
    const checksExtra = extra !== undefined && !this.acceptsAnything(extra);
    const checksNames = names !== undefined && !this.acceptsAnything(names);
    if (checksExtra || checksNames || minProps !== undefined || maxProps !== undefined) {
      const perKey: string[] = [];
      if (checksNames)
        perKey.push(`if (!${this.sub('check', names, 'k')}) ${this.fail(mode, this.msg('property name not allowed'), 'k')}`);
      if (checksExtra) {
        const known = this.constant(new Set(Object.keys(properties)));
        const onExtra =
          extra === false
            ? this.fail(mode, this.msg('unknown property (not allowed)'), 'k')
            : `if (!${this.sub(mode, extra, 'x[k]', 'k')}) return false;`;
        perKey.push(`if (!${known}.has(k)) { ${onExtra} }`);
      }
      const lines = ['{', 'const ks = Object.keys(x);'];
      if (minProps !== undefined && minProps > 0)
        lines.push(`if (ks.length < ${minProps}) ${this.fail(mode, this.msg(`expected at least ${minProps} properties`))}`);
      if (maxProps !== undefined)
        lines.push(`if (ks.length > ${maxProps}) ${this.fail(mode, this.msg(`expected at most ${maxProps} properties`))}`);
      if (perKey.length) lines.push(`for (let i = 0; i < ks.length; i++) {\nconst k = ks[i];\n${perKey.join('\n')}\n}`);
      lines.push('}');
      out.push(lines.join('\n'));
    }
    return out;
  }

  // ---- unions ----------------------------------------------------------------------------------------------

  private union(options: unknown[], keyword: 'anyOf' | 'oneOf', mode: Mode): string {
    const tagged = this.discriminator(options);
    if (tagged) return this.dispatch(tagged, options, mode);
    const checks = options.map((o) => this.sub('check', o, 'x'));
    if (mode === 'check') {
      if (keyword === 'anyOf') return `if (!(${checks.join(' || ')})) return false;`;
      return `{ let n = 0; ${checks.map((c) => `if (${c}) n++;`).join(' ')} if (n !== 1) return false; }`;
    }
    const none = this.explainNone(options, mode);
    if (keyword === 'anyOf') return `if (!(${checks.join(' || ')})) {\n${none}\n}`;
    return `{ let n = 0; ${checks.map((c) => `if (${c}) n++;`).join(' ')}\nif (n === 0) {\n${none}\n}\nif (n > 1) ${this.fail(mode, this.msg('matches more than one alternative'))}\n}`;
  }

  /**
   * Explains a value that matched no alternative: when exactly one alternative admits the value's type
   * (an object given to "address or null"), the value was meant for it, and its own explanation is the useful one.
   */
  private explainNone(options: unknown[], mode: Mode): string {
    const tests = options.map((o) => this.typeTest(o));
    const lines = ['{ let only = -1, n = 0;'];
    tests.forEach((t, i) => lines.push(`if (${t ?? 'true'}) { only = ${i}; n++; }`));
    lines.push(
      `if (n === 1) switch (only) { ${options.map((o, i) => `case ${i}: if (!${this.sub(mode, o, 'x')}) return false; break;`).join(' ')} }`,
    );
    const message = tests.every((t) => t !== undefined)
      ? this.msg(`expected ${[...new Set(options.flatMap((o) => this.typesOf(o) ?? []))].join(' or ')}, got `, 'T')
      : this.msg('matches none of the allowed alternatives');
    lines.push(`${this.fail(mode, message)} }`);
    return lines.join('\n');
  }

  private typesOf(schema: unknown): string[] | undefined {
    const s = isObject(schema) && schema['$ref'] !== undefined && Object.keys(schema).length === 1 ? this.resolve(schema['$ref']) : schema;
    if (!isObject(s) || s['type'] === undefined) return undefined;
    const types = (Array.isArray(s['type']) ? s['type'] : [s['type']]) as string[];
    return s['nullable'] === true ? [...types, 'null'] : types;
  }

  private typeTest(schema: unknown): string | undefined {
    const types = this.typesOf(schema);
    if (!types || !types.every((t) => TYPES.has(t))) return undefined;
    return types.map((t) => `(${TYPE_TEST[t === 'integer' ? 'number' : t]})`).join(' || ');
  }

  /**
   * A discriminated union: every alternative is an object that requires the same property with a distinct
   * constant. Then at most one alternative can match, so anyOf and oneOf both mean "the one the tag names".
   */
  private discriminator(options: unknown[]): { key: string; tags: unknown[] } | undefined {
    const shapes = options.map((o) => (isObject(o) && o['$ref'] !== undefined && Object.keys(o).length === 1 ? this.resolve(o['$ref']) : o));
    if (options.length < 2 || !shapes.every((o) => isObject(o) && o['type'] === 'object' && isObject(o['properties']))) return undefined;
    const first = shapes[0] as JsonSchema;
    for (const key of Object.keys(first['properties'] as JsonSchema)) {
      const tags = shapes.map((o) => {
        const shape = o as JsonSchema;
        if (!Array.isArray(shape['required']) || !shape['required'].includes(key)) return undefined;
        const prop = (shape['properties'] as JsonSchema)[key];
        if (!isObject(prop)) return undefined;
        if ('const' in prop) return prop['const'];
        return Array.isArray(prop['enum']) && prop['enum'].length === 1 ? prop['enum'][0] : undefined;
      });
      if (tags.every((t) => t !== undefined && isPrimitive(t)) && new Set(tags).size === tags.length) return { key, tags };
    }
    return undefined;
  }

  private dispatch(tagged: { key: string; tags: unknown[] }, options: unknown[], mode: Mode): string {
    const k = this.constant(tagged.key);
    const expectedTags = tagged.tags.map((t) => JSON.stringify(t)).join(', ');
    const cases = options.map(
      (o, i) => `case ${this.constant(tagged.tags[i])}: if (!${this.sub(mode, o, 'x')}) return false; break;`,
    );
    return [
      `if (!(${TYPE_TEST['object']})) ${this.fail(mode, this.msg('expected object, got ', 'T'))}`,
      `{ const tag = ${this.read(tagged.key)};`,
      `switch (tag) { ${cases.join(' ')} default: ${this.fail(mode, this.msg(`expected one of ${expectedTags}, got `, 'S', 'tag'), k)} } }`,
    ].join('\n');
  }
}
