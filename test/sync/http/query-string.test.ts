/** parseQuery against node:querystring on well-formed input, and its own rules where they differ. */
import { parse } from 'node:querystring';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { QueryCodec, decodeQueryString } from '../../../src/sync/http/query-codec.js';
import { parseQuery } from '../../../src/sync/http/query-string.js';

const plain = (o: object): Record<string, unknown> => ({ ...o });

describe('parseQuery', () => {
  it.each([
    'sku=ABC-1001',
    'a=1&b=2&a=3&a=4',
    'a&&b=&=x&c==d',
    'q=hello+world&r=%C3%A9t%C3%A9&s=a%2Bb%26c%3Dd',
    '&&&',
    '',
    '__proto__=x&constructor=y&toString=z',
  ])('reads %j as node:querystring does', (qs) => {
    expect(plain(parseQuery(qs))).toEqual(plain(parse(qs)));
  });

  it('agrees with node:querystring on any query built from encoded names and values', () => {
    const part = fc.string({ maxLength: 8 });
    fc.assert(
      fc.property(fc.array(fc.tuple(part, part, fc.boolean()), { maxLength: 8 }), (pairs) => {
        const qs = pairs
          .map(
            ([n, v, plus]) =>
              `${encodeURIComponent(n)}=${plus ? encodeURIComponent(v).replaceAll('%20', '+') : encodeURIComponent(v)}`,
          )
          .join('&');
        expect(plain(parseQuery(qs))).toEqual(plain(parse(qs)));
      }),
    );
  });

  it('keeps malformed percent-encoding as sent, and inherits nothing', () => {
    const q = parseQuery('a=%zz&b=%E2&c=ok');
    expect(plain(q)).toEqual({ a: '%zz', b: '%E2', c: 'ok' });
    expect(Object.getPrototypeOf(Object.getPrototypeOf(q))).toBeNull();
    expect(Object.keys(Object.getPrototypeOf(q))).toEqual([]);
    const inherited = parseQuery('');
    for (const name of ['toString', 'hasOwnProperty', 'constructor', '__proto__', 'valueOf'])
      expect(inherited[name]).toBeUndefined();
    const own = parseQuery('__proto__=1&constructor=2');
    expect(Object.keys(own)).toEqual(['__proto__', 'constructor']);
    expect(own['__proto__']).toBe('1');
  });

  it('reads at most 1000 pairs', () => {
    const q = parseQuery(Array.from({ length: 1500 }, (_, i) => `k${i}=${i}`).join('&'));
    expect(Object.keys(q)).toHaveLength(1000);
    expect(q['k999']).toBe('999');
    expect(q['k1000']).toBeUndefined();
  });
});

describe('decodeQueryString (the GET fast path)', () => {
  const codec = new QueryCodec([
    { name: 'sku', kind: 'string', array: false },
    { name: 'qty', kind: 'integer', array: false },
    { name: 'tag', kind: 'string', array: true, required: true },
    { name: 'on', kind: 'boolean', array: false },
    { name: 'a b', kind: 'mixed', array: true },
  ]);

  it.each([
    '',
    'sku=A1&qty=3',
    'tag=x&tag=y&sku=a&sku=b',
    'qty=1e3&on=true&on=false',
    'a+b=1&a%20b=true&zzz=9',
    'qty=x&on=maybe',
    '%zz=1&sku=%E2',
  ])('gives decode(parseQuery(%j))', (qs) => {
    expect(decodeQueryString(codec, qs)).toEqual(codec.decode(parseQuery(qs)));
  });

  it('gives decode(parseQuery(qs)) for any query over declared and undeclared names', () => {
    const name = fc.constantFrom('sku', 'qty', 'tag', 'on', 'a b', 'other', '__proto__');
    const value = fc.oneof(
      fc.string({ maxLength: 6 }),
      fc.integer().map(String),
      fc.constantFrom('true', 'false', '1.5'),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(name, value, fc.boolean()), { maxLength: 10 }), (pairs) => {
        const qs = pairs
          .map(([n, v, bare]) =>
            bare && v === '' ? encodeURIComponent(n) : `${encodeURIComponent(n)}=${encodeURIComponent(v)}`,
          )
          .join('&');
        expect(decodeQueryString(codec, qs)).toEqual(codec.decode(parseQuery(qs)));
      }),
    );
  });
});
