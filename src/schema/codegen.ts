/**
 * Courier's own JSON Schema → JavaScript compiler for the fast path: `generateCheck(schema)` returns a
 * specialised `(value) => boolean`, or undefined when the schema uses a keyword it does not implement (the
 * caller then uses ajv). It answers only "valid or not": finding *where* a value fails is the rare path and is
 * left to ajv, so the generated code carries no error bookkeeping.
 *
 * String lengths count code points (as JSON Schema and zod do); the generated code reads `s.length` (UTF-16
 * units) first and counts code points only when that cannot decide. Where JSON Schema and zod differ, zod wins,
 * because contracts are written in zod: numbers must be finite, and a property whose value is `undefined` counts
 * as absent (zod's `.optional()`).
 *
 * Safety: no part of the schema is pasted into the generated source except numbers that were checked to be
 * finite. Property names, patterns and enum values are passed in as constants, so a hostile property name
 * cannot inject code.
 */
type Json = Record<string, unknown>;

const HANDLED = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'prefixItems',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'pattern',
  'format',
  'enum',
  'const',
  'anyOf',
  'oneOf',
  'allOf',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  '$ref',
  '$defs',
  'definitions',
  'propertyNames',
  '$schema',
  'title',
  'description',
  'default',
  'examples',
  'id',
  '$id',
  'readOnly',
  'deprecated',
  'contentEncoding',
]);

class Unsupported extends Error {}

/** Number of Unicode code points in `s` (a surrogate pair counts once). */
function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

function regex(pattern: unknown): RegExp {
  try {
    return new RegExp(pattern as string);
  } catch {
    throw new Unsupported('pattern is not a JavaScript regular expression');
  }
}

export function generateCheck(root: Json): ((value: unknown) => boolean) | undefined {
  const consts: unknown[] = [];
  const fns: string[] = [];
  const refs = new Map<string, string>();
  let counter = 0;

  const constant = (value: unknown): string => {
    consts.push(value);
    return `C[${consts.length - 1}]`;
  };
  const num = (value: unknown): string => {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new Unsupported('non-finite bound');
    return String(value);
  };

  /** Emit a function for `schema`; returns its name. */
  const fn = (schema: unknown): string => {
    if (schema === true) return 'T';
    if (schema === false) return 'F';
    if (typeof schema !== 'object' || schema === null) throw new Unsupported('schema is not an object');
    const s = schema as Json;
    for (const key of Object.keys(s)) if (!HANDLED.has(key)) throw new Unsupported(key);
    const name = `s${counter++}`;
    const body: string[] = [];
    if (typeof s['$ref'] === 'string') body.push(`if (!${ref(s['$ref'])}(x)) return false;`);
    typeChecks(s, body);
    if (s['enum'] !== undefined) {
      const values = s['enum'] as unknown[];
      if (!Array.isArray(values) || values.some((v) => v !== null && typeof v === 'object'))
        throw new Unsupported('enum');
      body.push(`if (!${constant(new Set(values))}.has(x)) return false;`);
    }
    if ('const' in s) {
      if (s['const'] !== null && typeof s['const'] === 'object') throw new Unsupported('const object');
      body.push(`if (x !== ${constant(s['const'])}) return false;`);
    }
    for (const key of ['anyOf', 'oneOf'] as const) {
      const options = s[key] as unknown[] | undefined;
      if (!options) continue;
      const names = options.map(fn);
      if (key === 'anyOf') body.push(`if (!(${names.map((n) => `${n}(x)`).join(' || ')})) return false;`);
      else
        body.push(
          `{ let n = 0; ${names.map((n) => `if (${n}(x)) n++;`).join(' ')} if (n !== 1) return false; }`,
        );
    }
    if (s['allOf']) body.push(...(s['allOf'] as unknown[]).map(fn).map((n) => `if (!${n}(x)) return false;`));
    fns.push(`function ${name}(x) { ${body.join(' ')} return true; }`);
    return name;
  };

  const ref = (pointer: string): string => {
    const known = refs.get(pointer);
    if (known) return known;
    if (pointer === '#') {
      refs.set(pointer, 's0');
      return 's0';
    }
    const m = /^#\/(\$defs|definitions)\/([^/]+)$/.exec(pointer);
    const target = m
      ? (root[m[1]!] as Json | undefined)?.[decodeURIComponent(m[2]!).replace(/~1/g, '/').replace(/~0/g, '~')]
      : undefined;
    if (target === undefined) throw new Unsupported(`$ref ${pointer}`);
    const placeholder = `r${refs.size}`;
    refs.set(pointer, placeholder);
    fns.push(`function ${placeholder}(x) { return ${fn(target)}(x); }`);
    return placeholder;
  };

  /** Checks that depend on the instance type, grouped under one type test each. */
  const typeChecks = (s: Json, body: string[]): void => {
    const declared =
      s['type'] === undefined
        ? undefined
        : Array.isArray(s['type'])
          ? (s['type'] as string[])
          : [s['type'] as string];
    /** [type test, checks that apply when it holds] */
    const branches: Array<[string, string[]]> = [];
    const allow = (t: string) =>
      declared === undefined || declared.includes(t) || (t === 'integer' && declared.includes('number'));

    // strings
    const str: string[] = [];
    // Code points ≤ UTF-16 units ≤ 2 × code points, so `L` (a code point count) runs only in the ambiguous band.
    if (s['minLength'] !== undefined) {
      const min = num(s['minLength']);
      str.push(`if (x.length < ${min} || (x.length < 2 * ${min} && L(x) < ${min})) return false;`);
    }
    if (s['maxLength'] !== undefined) {
      const max = num(s['maxLength']);
      str.push(`if (x.length > ${max} && L(x) > ${max}) return false;`);
    }
    if (s['pattern'] !== undefined) str.push(`if (!${constant(regex(s['pattern']))}.test(x)) return false;`);
    if (allow('string') && (declared !== undefined || str.length))
      branches.push([`typeof x === 'string'`, str]);

    // numbers
    const numeric: string[] = [];
    if (s['minimum'] !== undefined) numeric.push(`if (x < ${num(s['minimum'])}) return false;`);
    if (s['maximum'] !== undefined) numeric.push(`if (x > ${num(s['maximum'])}) return false;`);
    if (typeof s['exclusiveMinimum'] === 'number')
      numeric.push(`if (x <= ${num(s['exclusiveMinimum'])}) return false;`);
    if (typeof s['exclusiveMaximum'] === 'number')
      numeric.push(`if (x >= ${num(s['exclusiveMaximum'])}) return false;`);
    if (s['multipleOf'] !== undefined) numeric.push(`if (x % ${num(s['multipleOf'])} !== 0) return false;`);
    const integerOnly =
      declared !== undefined && declared.includes('integer') && !declared.includes('number');
    if (allow('number') || allow('integer')) {
      const test = integerOnly
        ? `typeof x === 'number' && Number.isInteger(x)`
        : `typeof x === 'number' && Number.isFinite(x)`;
      if (declared !== undefined || numeric.length) branches.push([test, numeric]);
    }

    if (declared?.includes('boolean')) branches.push([`typeof x === 'boolean'`, []]);
    if (declared?.includes('null')) branches.push([`x === null`, []]);

    // arrays
    const arr: string[] = [];
    if (s['minItems'] !== undefined) arr.push(`if (x.length < ${num(s['minItems'])}) return false;`);
    if (s['maxItems'] !== undefined) arr.push(`if (x.length > ${num(s['maxItems'])}) return false;`);
    const prefix = s['prefixItems'] as unknown[] | undefined;
    if (prefix)
      prefix.forEach((item, i) => arr.push(`if (x.length > ${i} && !${fn(item)}(x[${i}])) return false;`));
    if (s['items'] !== undefined) {
      const item = fn(s['items']);
      arr.push(`for (let i = ${prefix?.length ?? 0}; i < x.length; i++) if (!${item}(x[i])) return false;`);
    }
    if (allow('array') && (declared !== undefined || arr.length)) branches.push([`Array.isArray(x)`, arr]);

    // objects
    const obj: string[] = [];
    const props = (s['properties'] as Record<string, unknown> | undefined) ?? {};
    const required = new Set((s['required'] as string[] | undefined) ?? []);
    for (const [key, sub] of Object.entries(props)) {
      const k = constant(key);
      const read =
        key in Object.prototype || key === '__proto__' ? `(H(x, ${k}) ? x[${k}] : undefined)` : `x[${k}]`;
      obj.push(
        `{ const v = ${read}; if (v === undefined) { ${required.has(key) ? 'return false;' : ''} } else if (!${fn(sub)}(v)) return false; }`,
      );
    }
    for (const key of required) if (!(key in props)) obj.push(`if (!H(x, ${constant(key)})) return false;`);
    const extra = s['additionalProperties'];
    const names = s['propertyNames'];
    if ((extra !== undefined && extra !== true) || names !== undefined) {
      const known = constant(new Set(Object.keys(props)));
      const extraCheck =
        extra === undefined || extra === true
          ? ''
          : extra === false
            ? 'return false;'
            : `if (!${fn(extra)}(x[k])) return false;`;
      const nameCheck = names === undefined ? '' : `if (!${fn(names)}(k)) return false;`;
      obj.push(
        `for (const k in x) { if (!H(x, k)) continue; ${nameCheck} if (!${known}.has(k)) { ${extraCheck} } }`,
      );
    }
    if (allow('object') && (declared !== undefined || obj.length)) {
      branches.push([`typeof x === 'object' && x !== null && !Array.isArray(x)`, obj]);
    }

    if (declared !== undefined) {
      // A value that matches none of the declared types is invalid; one that matches runs that type's checks.
      body.push(
        `ok: { ${branches.map(([test, checks]) => `if (${test}) { ${checks.join(' ')} break ok; }`).join(' ')} return false; }`,
      );
    } else {
      // No declared type: keywords apply only to values of their own type (JSON Schema semantics).
      for (const [test, checks] of branches)
        if (checks.length) body.push(`if (${test}) { ${checks.join(' ')} }`);
    }
  };

  try {
    const entry = fn(root);
    const source = `${fns.join('\n')}\nreturn ${entry};`;
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    const factory = new Function('C', 'H', 'T', 'F', 'L', source) as (
      ...args: unknown[]
    ) => (value: unknown) => boolean;
    return factory(
      consts,
      Object.hasOwn,
      () => true,
      () => false,
      codePoints,
    );
  } catch (error) {
    if (error instanceof Unsupported) return undefined;
    throw error;
  }
}
