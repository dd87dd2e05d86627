import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { UnsupportedSchemaError, generateValidator } from '../../src/schema/codegen.js';
import { compile } from '../../src/schema/compile.js';
import type { JsonSchema } from '../../src/schema/json-schema.js';

const plain = (schema: JsonSchema) => generateValidator(schema, { unicodePatterns: true });

/** Plain JSON Schemas (no formats, no decimal multipleOf: ajv's exact semantics there differ by design). */
const PLAIN_SCHEMAS: JsonSchema[] = [
  {
    type: 'object',
    properties: { id: { type: 'integer', minimum: 1 }, name: { type: 'string', minLength: 1, maxLength: 4 }, tags: { type: 'array', items: { type: 'string' }, maxItems: 2 } },
    required: ['id'],
    additionalProperties: false,
  },
  { type: ['string', 'null'], pattern: '^[a-z]+$' },
  { anyOf: [{ type: 'number', exclusiveMaximum: 0 }, { type: 'string', maxLength: 1 }, { type: 'boolean' }] },
  { oneOf: [{ type: 'integer' }, { type: 'number', minimum: 10 }] },
  { type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }], items: false, minItems: 1 },
  { type: 'object', propertyNames: { maxLength: 2 }, additionalProperties: { type: 'number' }, minProperties: 1, maxProperties: 3 },
  { not: { type: 'string' } },
  { enum: ['a', 1, null, true] },
  { const: 'x' },
  { allOf: [{ type: 'object', required: ['a'] }, { properties: { a: { type: 'number', multipleOf: 3 } } }] },
  { minLength: 2, minimum: 5, minItems: 1 }, // no type: each keyword constrains only its own type
  {
    $defs: { node: { type: 'object', properties: { v: { type: 'number' }, next: { anyOf: [{ $ref: '#/$defs/node' }, { type: 'null' }] } }, required: ['v'] } },
    $ref: '#/$defs/node',
  },
];

const json = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom<unknown>({ id: 1 }, { id: 1, name: 'ab', tags: ['x'] }, ['a', 1], { v: 1, next: { v: 2, next: null } }, { a: 3 }, { a: 4 }, 'abc'),
);

/**
 * A number anywhere in `value` where ajv's `multipleOf` is not the reference: non-zero and below 1e-9 in
 * magnitude (zod's verdict differs, see below), or 1e21 and above (ajv tests `x/step !== parseInt(x/step)`,
 * and `parseInt` of a number that prints in exponent notation reads only its first digit).
 */
function outsideAjvMultipleOf(value: unknown): boolean {
  if (typeof value === 'number') return (value !== 0 && Math.abs(value) < 1e-9) || Math.abs(value) >= 1e21;
  if (value !== null && typeof value === 'object') return Object.values(value).some(outsideAjvMultipleOf);
  return false;
}

describe('generateValidator(): the JSON Schema code generator', () => {
  it('agrees with ajv on plain JSON Schemas (property)', () => {
    const ajv = new Ajv2020({ strict: false });
    for (const schema of PLAIN_SCHEMAS) {
      const ours = plain(schema);
      const theirs = ajv.compile(schema);
      fc.assert(
        fc.property(json, (value) => {
          fc.pre(!outsideAjvMultipleOf(value)); // multipleOf of such values: see the tests below
          expect(ours.check(value)).toBe(theirs(value));
        }),
        { numRuns: 300 },
      );
    }
  });

  it('multipleOf follows zod, not ajv, for values far below the step (the counterexample fast-check found)', () => {
    // zod counts 1e-323 as a multiple of 3 (its remainder works on decimal digits); ajv does not. Contracts
    // are zod, so the compiled validator gives zod's verdict; the ajv property above leaves such values out.
    const v = plain(PLAIN_SCHEMAS[9]!);
    for (const a of [1e-323, -5e-324, 1e-20, 3, 7]) {
      expect(v.check({ a }), String(a)).toBe(z.number().multipleOf(3).safeParse(a).success);
    }
    expect([v.check({ a: 3 }), v.check({ a: 7 })]).toEqual([true, false]);
  });

  it('multipleOf holds for multiples at 1e21 and above, where ajv says otherwise (the counterexample fast-check found)', () => {
    // 3e21 / 3 is 1e21 exactly, but ajv compares it with parseInt(1e21), which is 1.
    const v = plain(PLAIN_SCHEMAS[9]!);
    expect(v.check({ a: 3e21 })).toBe(true);
    expect(v.check({ a: 3e21 })).toBe(z.number().multipleOf(3).safeParse(3e21).success);
    expect(new Ajv2020({ strict: false }).compile(PLAIN_SCHEMAS[9]!)({ a: 3e21 })).toBe(false);
  });

  it('explains exactly the values check rejects (property)', () => {
    const zodSchemas = [z.object({ a: z.string().min(2), b: z.array(z.number().int()).max(2).optional() }), z.record(z.string(), z.boolean()).nullable()];
    const generated = [...PLAIN_SCHEMAS.map(plain), ...zodSchemas.map((s) => generateValidator(z.toJSONSchema(s) as JsonSchema))];
    for (const v of generated) {
      fc.assert(
        fc.property(json, (value) => {
          const issues = v.explain(value);
          expect(issues.length === 0).toBe(v.check(value));
          expect(issues.length).toBeLessThanOrEqual(1);
        }),
        { numRuns: 300 },
      );
    }
  });

  it('follows $ref through $defs and "#" for recursive schemas', () => {
    const list = plain(PLAIN_SCHEMAS[11]!);
    expect(list.check({ v: 1, next: { v: 2, next: { v: 3, next: null } } })).toBe(true);
    expect(list.explain({ v: 1, next: { v: 2, next: { v: 'three' } } })).toEqual([
      { path: ['next', 'next', 'v'], message: 'expected number, got string' },
    ]);
    const tree = plain({ type: 'object', properties: { kids: { type: 'array', items: { $ref: '#' } } } });
    expect(tree.check({ kids: [{ kids: [] }, {}] })).toBe(true);
    expect(tree.check({ kids: [{ kids: [1] }] })).toBe(false);
  });

  it('reads the draft-07 tuple form', () => {
    const v = plain({ type: 'array', items: [{ type: 'string' }], additionalItems: false });
    expect(v.check(['a'])).toBe(true);
    expect(v.check(['a', 'b'])).toBe(false);
    expect(v.check([1])).toBe(false);
  });

  it('asserts known formats of plain JSON Schemas', () => {
    const v = plain({
      type: 'object',
      properties: {
        id: { type: 'string', format: 'uuid' },
        at: { type: 'string', format: 'date-time' },
        day: { type: 'string', format: 'date' },
        mail: { type: 'string', format: 'email' },
        ip: { type: 'string', format: 'ipv4' },
        ip6: { type: 'string', format: 'ipv6' },
        site: { type: 'string', format: 'uri' },
        n: { type: 'integer', format: 'int32' },
      },
    });
    const ok = { id: '123e4567-e89b-12d3-a456-426614174000', at: '2024-02-29T23:59:60.5+01:00', day: '2000-02-29', mail: 'a.b@example.org', ip: '10.0.0.1', ip6: '::1', site: 'https://x.io/a?b', n: 7 };
    expect(v.explain(ok)).toEqual([]);
    const bad: Array<[string, unknown]> = [
      ['id', '123e4567-e89b-12d3-a456-42661417400'],
      ['at', '2023-02-29T10:00:00Z'],
      ['at', '2024-01-01T10:00:00'],
      ['day', '2001-13-01'],
      ['mail', 'a@b'],
      ['ip', '10.0.0.256'],
      ['ip6', '::g'],
      ['site', 'no scheme'],
      ['n', 2 ** 31],
    ];
    for (const [key, value] of bad) {
      const issues = v.explain({ ...ok, [key]: value });
      expect(issues[0]?.path, `${key}: ${String(value)}`).toEqual([key]);
    }
  });

  it('refuses what it does not implement instead of ignoring it', () => {
    const unsupported: JsonSchema[] = [
      { type: 'object', dependentRequired: { a: ['b'] } },
      { if: { type: 'string' }, then: { minLength: 2 } },
      { type: 'array', uniqueItems: true },
      { type: 'string', format: 'hostname-idn' },
      { $ref: 'https://example.com/other.json' },
      { $ref: '#/$defs/missing' },
      { type: 'strin' },
      { enum: [{ a: 1 }] },
      { type: 'string', pattern: '(' },
    ];
    for (const schema of unsupported) expect(() => plain(schema), JSON.stringify(schema)).toThrow(UnsupportedSchemaError);
  });

  it('counts string length in code points like zod', () => {
    const schema = z.string().min(2).max(3);
    const v = compile(schema);
    expect(v.compiled).toBe(true);
    fc.assert(
      // Units chosen to mix one-unit characters, surrogate pairs and lone surrogates.
      fc.property(fc.string({ unit: fc.constantFrom('a', 'é', '😀', '𝄞', '\ud83d', '\ude00'), maxLength: 7 }), (s) => {
        expect(v.is(s)).toBe(schema.safeParse(s).success);
      }),
    );
    expect(v.is('😀😀')).toBe(true); // four UTF-16 units, two code points
  });
});

describe('generated code and hostile schemas', () => {
  afterEach(() => {
    delete (globalThis as Record<string, unknown>)['__pwned'];
  });

  const HOSTILE = [
    '"]);process.exit(1)//',
    "']);globalThis.__pwned=1;//",
    '`${globalThis.__pwned=1}`',
    '\\"; globalThis.__pwned = 1; //',
    '\u2028globalThis.__pwned=1\u2029',
    '*/globalThis.__pwned=1/*',
    '}}globalThis.__pwned=1;{{',
    'x.y',
    '',
  ];

  it('runs no code from property names, required names, patterns, enum values, consts or $defs names', () => {
    for (const name of HOSTILE) {
      const schema: JsonSchema = {
        $defs: { [name]: { type: 'string', pattern: name.replace(/[\\()[\]{}*+?.^$|]/g, '\\$&'), enum: [name] } },
        type: 'object',
        properties: { [name]: { $ref: `#/$defs/${encodeURIComponent(name.replace(/~/g, '~0').replace(/\//g, '~1'))}` }, tag: { const: name } },
        required: [name, 'tag'],
        propertyNames: { enum: [name, 'tag'] },
      };
      const v = plain(schema);
      expect(v.check({ [name]: name, tag: name }), name).toBe(true);
      expect(v.check({ [name]: `${name}!`, tag: name }), name).toBe(false);
      expect(v.check({ tag: name }), name).toBe(false);
      expect(v.explain({ tag: name }), name).toEqual([{ path: [name], message: 'is required' }]);
      expect(v.explain({ [name]: name, tag: name, other: 1 })[0]?.path, name).toEqual(['other']);
    }
    expect((globalThis as Record<string, unknown>)['__pwned']).toBeUndefined();
  });

  it('runs no code from hostile zod property names and still validates them', () => {
    for (const name of HOSTILE) {
      const schema = z.object({ [name]: z.number(), ok: z.literal(name) });
      const v = compile(schema);
      expect(v.compiled).toBe(true);
      expect(v.is({ [name]: 1, ok: name })).toBe(true);
      expect(v.is({ [name]: '1', ok: name })).toBe(false);
    }
    expect((globalThis as Record<string, unknown>)['__pwned']).toBeUndefined();
  });
});
