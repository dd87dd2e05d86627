import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { compile } from '../../src/schema/compile.js';
import { generateCheck } from '../../src/schema/codegen.js';

describe('generateCheck(): the JSON Schema code generator', () => {
  it('cannot be made to run code by hostile property names, patterns or enum values', () => {
    const hostile = '"]); globalThis.__pwned = true; //';
    const check = generateCheck({
      type: 'object',
      properties: {
        [hostile]: { type: 'string', pattern: "'; globalThis.__pwned = true; //", enum: [hostile] },
      },
      required: [hostile],
    });
    expect(check).toBeDefined();
    expect(check!({ [hostile]: hostile })).toBe(false); // the pattern does not match the value
    expect(check!({})).toBe(false);
    expect((globalThis as any).__pwned).toBeUndefined();
  });

  it('reads inherited names such as constructor and __proto__ only as own properties', () => {
    const check = generateCheck({
      type: 'object',
      properties: { constructor: { type: 'string' } },
      required: ['constructor'],
    })!;
    expect(check({})).toBe(false);
    expect(check({ constructor: 'x' })).toBe(true);
  });

  it('handles recursive schemas through $ref', () => {
    type Tree = { value: number; children: Tree[] };
    const Tree: z.ZodType<Tree> = z.object({
      value: z.number(),
      get children() {
        return z.array(Tree);
      },
    });
    const v = compile(Tree);
    expect(v.compiled).toBe(true);
    expect(v.is({ value: 1, children: [{ value: 2, children: [] }] })).toBe(true);
    expect(v.is({ value: 1, children: [{ value: 'two', children: [] }] })).toBe(false);
  });

  it('declines keywords it does not implement, so the caller can use ajv', () => {
    expect(generateCheck({ type: 'object', dependentRequired: { a: ['b'] } })).toBeUndefined();
    expect(generateCheck({ if: { type: 'string' }, then: { minLength: 2 } })).toBeUndefined();
  });

  it('counts string length in code points like zod', () => {
    const schema = z.string().min(2).max(3);
    const v = compile(schema);
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 4 }), (s) => {
        expect(v.is(s)).toBe(schema.safeParse(s).success);
      }),
    );
  });

  it('treats a regex with flags as impure (JSON Schema drops flags) and stays correct', () => {
    const schema = z.string().regex(/^abc$/i);
    const v = compile(schema);
    expect(v.compiled).toBe(false);
    expect(v.is('ABC')).toBe(true);
  });
});
