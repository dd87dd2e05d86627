import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  childTraceparent,
  formatTraceparent,
  formatTracestate,
  isSampled,
  isValidTraceparent,
  isValidTracestate,
  newTraceparent,
  parseTraceparent,
  parseTracestate,
  updateTracestate,
} from '../../src/core/trace-context.js';

// Vectors from the W3C Trace Context specification and its test suite (w3c/trace-context test/test.py).
const TRACE = '12345678901234567890123456789012';
const PARENT = '1234567890123456';

describe('traceparent: W3C vectors', () => {
  it.each([
    ['spec example, sampled', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['spec example, not sampled', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00'],
    ['version 00, unknown flag bits', `00-${TRACE}-${PARENT}-ff`],
    ['future version cc', `cc-${TRACE}-${PARENT}-01`],
    ['future version cc with more fields', `cc-${TRACE}-${PARENT}-01-what-the-future-will-be-like`],
    ['leading space (OWS)', ` 00-${TRACE}-${PARENT}-01`],
    ['leading tab (OWS)', `\t00-${TRACE}-${PARENT}-01`],
    ['trailing space and tab (OWS)', `00-${TRACE}-${PARENT}-01 \t`],
  ])('valid: %s', (_name, value) => {
    expect(isValidTraceparent(value)).toBe(true);
  });

  it.each([
    ['version 00 with trailing dot', `00-${TRACE}-${PARENT}-01.`],
    ['version 00 with more fields', `00-${TRACE}-${PARENT}-01-what-the-future-will-be-like`],
    ['future version, no dash after flags', `cc-${TRACE}-${PARENT}-01.what-the-future-will-be-like`],
    ['version ff', `ff-${TRACE}-${PARENT}-01`],
    ['version illegal character .0', `.0-${TRACE}-${PARENT}-01`],
    ['version illegal character 0.', `0.-${TRACE}-${PARENT}-01`],
    ['version too long (3)', `000-${TRACE}-${PARENT}-01`],
    ['version too long (4)', `0000-${TRACE}-${PARENT}-01`],
    ['version too short', `0-${TRACE}-${PARENT}-01`],
    ['trace id all zero', `00-${'0'.repeat(32)}-${PARENT}-01`],
    ['trace id illegal first character', `00-.${TRACE.slice(1)}-${PARENT}-01`],
    ['trace id illegal last character', `00-${TRACE.slice(0, 31)}.-${PARENT}-01`],
    ['trace id too long', `00-${TRACE}3-${PARENT}-01`],
    ['trace id too short', `00-${TRACE.slice(1)}-${PARENT}-01`],
    ['parent id all zero', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['parent id illegal first character', `00-${TRACE}-.${PARENT.slice(1)}-01`],
    ['parent id illegal last character', `00-${TRACE}-${PARENT.slice(0, 15)}.-01`],
    ['parent id too long', `00-${TRACE}-${PARENT}7-01`],
    ['parent id too short', `00-${TRACE}-${PARENT.slice(1)}-01`],
    ['flags illegal .0', `00-${TRACE}-${PARENT}-.0`],
    ['flags illegal 0.', `00-${TRACE}-${PARENT}-0.`],
    ['flags too long', `00-${TRACE}-${PARENT}-001`],
    ['flags too short', `00-${TRACE}-${PARENT}-1`],
    ['uppercase hex', `00-${'4BF92F3577B34DA6A3CE929D0E0E4736'}-${PARENT}-01`],
    ['uppercase version', `0A-${TRACE}-${PARENT}-01`],
    ['wrong delimiter', `00_${TRACE}_${PARENT}_01`],
    ['empty', ''],
    ['newline around it', `\n00-${TRACE}-${PARENT}-01`],
  ])('invalid: %s', (_name, value) => {
    expect(isValidTraceparent(value)).toBe(false);
  });

  it('parses the fields', () => {
    expect(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toEqual({
      version: '00',
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      parentId: '00f067aa0ba902b7',
      flags: 1,
    });
  });

  it('never throws on non-strings', () => {
    for (const v of [undefined, null, 42, {}, ['00'], Symbol('x')])
      expect(parseTraceparent(v)).toBeUndefined();
  });

  it('format → parse round trip for any valid fields', () => {
    const hex = (n: number) =>
      fc
        .string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n })
        .filter((s) => /[^0]/.test(s));
    fc.assert(
      fc.property(hex(32), hex(16), fc.integer({ min: 0, max: 255 }), (traceId, parentId, flags) => {
        const parsed = parseTraceparent(formatTraceparent({ traceId, parentId, flags }));
        expect(parsed).toEqual({ version: '00', traceId, parentId, flags });
      }),
    );
  });

  it('formatTraceparent refuses ids the spec forbids', () => {
    expect(() => formatTraceparent({ traceId: '0'.repeat(32), parentId: PARENT })).toThrow(TypeError);
    expect(() => formatTraceparent({ traceId: TRACE, parentId: PARENT.toUpperCase() + 'A' })).toThrow(
      TypeError,
    );
    expect(() => formatTraceparent({ traceId: TRACE, parentId: PARENT, flags: 256 })).toThrow(TypeError);
  });
});

describe('new and child trace context', () => {
  it('newTraceparent starts a valid trace, sampled or not', () => {
    const sampled = parseTraceparent(newTraceparent());
    expect(sampled && isSampled(sampled)).toBe(true);
    const unsampled = parseTraceparent(newTraceparent(false));
    expect(unsampled && isSampled(unsampled)).toBe(false);
    expect(newTraceparent()).not.toBe(newTraceparent());
  });

  it('a child keeps the trace id and flags, with a fresh span id each time', () => {
    const parent = `00-${TRACE}-${PARENT}-00`;
    const a = parseTraceparent(childTraceparent(parent));
    const b = parseTraceparent(childTraceparent(parent));
    expect(a).toMatchObject({ version: '00', traceId: TRACE, flags: 0 });
    expect(a?.parentId).not.toBe(PARENT);
    expect(a?.parentId).not.toBe(b?.parentId);
    expect(childTraceparent(parent, 'abcdefabcdefabcd')).toBe(`00-${TRACE}-abcdefabcdefabcd-00`);
  });

  it('a child of a future version is written as version 00, keeping only the sampled bit', () => {
    expect(childTraceparent(`cc-${TRACE}-${PARENT}-ff-extra`, 'abcdefabcdefabcd')).toBe(
      `00-${TRACE}-abcdefabcdefabcd-01`,
    );
  });

  it('a child of a missing or invalid parent starts a new trace', () => {
    for (const parent of [undefined, 'garbage', `00-${'0'.repeat(32)}-${PARENT}-01`]) {
      const child = parseTraceparent(childTraceparent(parent));
      expect(child).toBeDefined();
      expect(child?.traceId).not.toBe('0'.repeat(32));
    }
  });
});

describe('tracestate: W3C vectors', () => {
  const allKeyChars = 'abcdefghijklmnopqrstuvwxyz0123456789_-*/';
  const allValueChars = range(0x20, 0x2b) + range(0x2d, 0x3c) + range(0x3e, 0x7e); // note: starts with a space, ends with '~'

  it.each([
    ['single member', 'foo=1', [['foo', '1']]],
    [
      'two members',
      'foo=1,bar=2',
      [
        ['foo', '1'],
        ['bar', '2'],
      ],
    ],
    [
      'OWS around members',
      'foo=1 \t , \t bar=2, \t baz=3',
      [
        ['foo', '1'],
        ['bar', '2'],
        ['baz', '3'],
      ],
    ],
    ['leading OWS', ' foo=1', [['foo', '1']]],
    ['trailing OWS', 'foo=1\t', [['foo', '1']]],
    ['empty header', '', []],
    [
      'empty members',
      'foo=1,,bar=2',
      [
        ['foo', '1'],
        ['bar', '2'],
      ],
    ],
    ['all legal key and value characters', `${allKeyChars}=${allValueChars}`, [[allKeyChars, allValueChars]]],
    ['multi-tenant key', `${allKeyChars}@a-z0-9_-*/=1`, [[`${allKeyChars}@a-z0-9_-*/`, '1']]],
    ['key of 256 characters', `${'z'.repeat(256)}=1`, [['z'.repeat(256), '1']]],
    [
      'tenant of 241 and system of 14',
      `${'t'.repeat(241)}@${'v'.repeat(14)}=1`,
      [[`${'t'.repeat(241)}@${'v'.repeat(14)}`, '1']],
    ],
    ['tenant starting with a digit', '1a@b=1', [['1a@b', '1']]],
    ['value with inner spaces', 'foo=a b c', [['foo', 'a b c']]],
    ['value of 256 characters', `foo=${'x'.repeat(256)}`, [['foo', 'x'.repeat(256)]]],
  ])('valid: %s', (_name, value, entries) => {
    expect(parseTracestate(value)).toEqual(entries);
  });

  it('accepts 32 members and rejects 33', () => {
    const members = (n: number) =>
      Array.from({ length: n }, (_, i) => `bar${String(i + 1).padStart(2, '0')}=${i + 1}`).join(',');
    expect(parseTracestate(members(32))).toHaveLength(32);
    expect(isValidTracestate(members(33))).toBe(false);
  });

  it.each([
    ['key with a space', 'foo =1'],
    ['uppercase key', 'FOO=1'],
    ['dot in key', 'foo.bar=1'],
    ['empty system id', 'foo@=1,bar=2'],
    ['empty tenant id', '@foo=1,bar=2'],
    ['double @', 'foo@@bar=1,bar=2'],
    ['two @', 'foo@bar@baz=1,bar=2'],
    ['key of 257 characters', `${'z'.repeat(257)}=1`],
    ['tenant of 242 characters', `${'t'.repeat(242)}@v=1`],
    ['system id of 15 characters', `t@${'v'.repeat(15)}=1`],
    ['simple key starting with a digit', '1foo=1'],
    ['= in value', 'foo=bar=baz'],
    ['empty value', 'foo=,bar=3'],
    ['no =', 'foo'],
    ['duplicate key', 'foo=1,foo=1'],
    ['duplicate key, other value', 'foo=1,foo=2'],
    ['value of 257 characters', `foo=${'x'.repeat(257)}`],
    ['non-ASCII value', 'foo=é'],
    ['CR LF in value', 'foo=1\r\nx=2'],
  ])('invalid: %s', (_name, value) => {
    expect(isValidTracestate(value)).toBe(false);
  });

  it('formats members and refuses invalid ones', () => {
    expect(
      formatTracestate([
        ['rojo', '00f067aa0ba902b7'],
        ['congo', 't61rcWkgMzE'],
      ]),
    ).toBe('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
    expect(() => formatTracestate([['Rojo', '1']])).toThrow(TypeError);
    expect(() =>
      formatTracestate([
        ['a', '1'],
        ['a', '2'],
      ]),
    ).toThrow(TypeError);
    expect(() => formatTracestate([['a', 'x,y']])).toThrow(TypeError);
  });

  it('updateTracestate moves the key to the front, replaces its old value and keeps at most 32', () => {
    expect(updateTracestate('congo=1,rojo=2', 'rojo', '3')).toBe('rojo=3,congo=1');
    expect(updateTracestate(undefined, 'rojo', '3')).toBe('rojo=3');
    expect(updateTracestate('Bad Key=1', 'rojo', '3')).toBe('rojo=3'); // invalid input is discarded
    const full = Array.from({ length: 32 }, (_, i) => `k${i}=${i}`).join(',');
    const updated = parseTracestate(updateTracestate(full, 'new', 'x'));
    expect(updated).toHaveLength(32);
    expect(updated?.[0]).toEqual(['new', 'x']);
    expect(updated?.some(([k]) => k === 'k31')).toBe(false);
  });

  it('never throws on garbage', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.anything()), (v) => {
        const r = parseTracestate(v);
        expect(r === undefined || Array.isArray(r)).toBe(true);
        expect(typeof isValidTraceparent(v)).toBe('boolean');
      }),
    );
  });
});

function range(from: number, to: number): string {
  let s = '';
  for (let c = from; c <= to; c++) s += String.fromCharCode(c);
  return s;
}
