import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { isPureZodSchema } from '../../src/schema/purity.js';

describe('isPureZodSchema()', () => {
  it('admits shapes, bounds, pattern formats, unions, records with string keys, recursion', () => {
    type Tree = { v: number; kids: Tree[] };
    const Tree: z.ZodType<Tree> = z.object({
      v: z.number(),
      get kids() {
        return z.array(Tree);
      },
    });
    const pure: z.ZodType[] = [
      z.object({ a: z.string().min(1).max(3).regex(/^a/), b: z.number().int().positive().optional() }),
      z.array(z.union([z.literal('x'), z.null()])).max(4),
      z.discriminatedUnion('k', [z.object({ k: z.literal('a') }), z.object({ k: z.literal('b') })]),
      z.record(z.enum(['a', 'b']), z.boolean()),
      z.object({ e: z.email(), u: z.uuid(), t: z.iso.datetime(), ip: z.ipv4() }),
      z.object({ n: z.string().nullable().optional() }),
      Tree,
    ];
    for (const schema of pure) expect(isPureZodSchema(schema)).toBe(true);
  });

  it('rejects anything that transforms, fills in, refines, coerces or runs code to check', () => {
    const impure: Array<[string, z.ZodType]> = [
      ['transform', z.string().transform((s) => s.length)],
      ['default', z.object({ a: z.number().default(1) })],
      ['prefault', z.object({ a: z.number().prefault(1) })],
      ['catch', z.number().catch(0)],
      ['refine', z.number().refine((n) => n % 2 === 0)],
      ['superRefine', z.object({ a: z.string() }).superRefine(() => undefined)],
      ['trim', z.string().trim()],
      ['toLowerCase', z.string().toLowerCase()],
      ['coerce', z.coerce.number()],
      ['preprocess', z.preprocess((v) => v, z.string())],
      ['pipe', z.string().pipe(z.string().min(1))],
      ['url', z.url()],
      ['jwt', z.jwt()],
      ['ipv6', z.ipv6()],
      ['base64', z.base64()],
      ['emoji (u flag)', z.emoji()],
      ['regex flags', z.string().regex(/a/i)],
      ['includes at a position', z.string().includes('a', { position: 2 })],
      ['optional array item', z.array(z.string().optional())],
      ['optional record value', z.record(z.string(), z.number().optional())],
      ['optional at the root', z.string().optional()],
      ['numeric record keys', z.record(z.number(), z.string())],
      ['exact optional', z.object({ a: z.string().exactOptional() })],
      ['date', z.date()],
      ['bigint', z.bigint()],
      ['custom', z.custom<string>((v) => typeof v === 'string')],
    ];
    for (const [name, schema] of impure) expect(isPureZodSchema(schema), name).toBe(false);
  });

  it('rejects what is not a zod schema', () => {
    expect(isPureZodSchema({ '~standard': { vendor: 'x' } })).toBe(false);
    expect(isPureZodSchema(undefined)).toBe(false);
  });
});
