/**
 * fast-check arbitraries for envelopes, shared by the envelope property tests. The validity rules here are
 * written independently of src/core/envelope.ts (Unicode property escapes instead of code-point arithmetic)
 * so that the tests check the implementation rather than restate it.
 */
import fc from 'fast-check';
import type { Envelope } from '../../src/core/envelope.js';

/** CloudEvents String: no control characters (Cc), noncharacters or unpaired surrogates. */
const FORBIDDEN = /[\p{Cc}\p{Noncharacter_Code_Point}\p{Cs}]/u;

export function isCloudEventsString(s: string): boolean {
  return !FORBIDDEN.test(s);
}

/** Strings mixing ASCII and arbitrary Unicode graphemes (emoji, CJK, combining marks…). */
export const text = (minLength = 1): fc.Arbitrary<string> =>
  fc
    .oneof(
      fc.string({ unit: 'grapheme-ascii', minLength, maxLength: 40 }),
      fc.string({ unit: 'grapheme', minLength, maxLength: 20 }),
      fc.string({ unit: 'binary', minLength, maxLength: 20 }),
    )
    .filter(isCloudEventsString);

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** RFC 3339 timestamps with every optional part: fractions, `z`/`Z`, numeric offsets, leap second, leap day. */
export const rfc3339 = fc
  .record({
    year: fc.integer({ min: 0, max: 9999 }),
    month: fc.integer({ min: 1, max: 12 }),
    day: fc.integer({ min: 1, max: 31 }),
    hour: fc.integer({ min: 0, max: 23 }),
    minute: fc.integer({ min: 0, max: 59 }),
    second: fc.integer({ min: 0, max: 60 }),
    fraction: fc.option(fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 1, maxLength: 12 }), {
      nil: undefined,
    }),
    t: fc.constantFrom('T', 't'),
    zone: fc.oneof(
      fc.constantFrom('Z', 'z'),
      fc
        .tuple(fc.constantFrom('+', '-'), fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }))
        .map(([sign, h, m]) => `${sign}${pad(h, 2)}:${pad(m, 2)}`),
    ),
  })
  .filter(
    (p) =>
      p.day <= new Date(Date.UTC(2000, p.month, 0)).getUTCDate() &&
      (p.month !== 2 || p.day < 29 || isLeap(p.year)),
  )
  .map(
    (p) =>
      `${pad(p.year, 4)}-${pad(p.month, 2)}-${pad(p.day, 2)}${p.t}${pad(p.hour, 2)}:${pad(p.minute, 2)}:${pad(p.second, 2)}` +
      `${p.fraction === undefined ? '' : `.${p.fraction}`}${p.zone}`,
  );

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

const lowerHex = (length: number): fc.Arbitrary<string> =>
  fc
    .string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length })
    .filter((s) => /[^0]/.test(s));

export const traceparent = fc
  .tuple(lowerHex(32), lowerHex(16), fc.integer({ min: 0, max: 255 }))
  .map(([trace, span, flags]) => `00-${trace}-${span}-${flags.toString(16).padStart(2, '0')}`);

const tracestateKey = fc.stringMatching(
  /^(?:[a-z][a-z0-9_\-*/]{0,12}|[a-z0-9][a-z0-9_\-*/]{0,8}@[a-z][a-z0-9_\-*/]{0,5})$/,
);
const tracestateValue = fc.stringMatching(
  /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,12}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/,
);

export const tracestate = fc
  .uniqueArray(fc.tuple(tracestateKey, tracestateValue), { selector: ([k]) => k, minLength: 0, maxLength: 6 })
  .chain((entries) =>
    fc.constantFrom(', ', ',', ' ,\t').map((sep) => entries.map(([k, v]) => `${k}=${v}`).join(sep)),
  );

export const RESERVED = new Set([
  'id',
  'source',
  'type',
  'specversion',
  'time',
  'subject',
  'datacontenttype',
  'dataschema',
  'traceparent',
  'tracestate',
  'correlationid',
  'causationid',
  'deadline',
  'attempt',
  'data',
]);

export const extensionName = fc.stringMatching(/^[a-z0-9]{1,20}$/).filter((n) => !RESERVED.has(n));

export const mediaType = fc.constantFrom(
  'application/json',
  'text/plain; charset=utf-8',
  'application/cloudevents+json',
  'application/vnd.courier.order.v1+json; profile="a b"',
  'application/x-protobuf',
);

/** Valid envelopes: required fields always, each optional field present or absent. */
export const envelope: fc.Arbitrary<Envelope> = fc
  .record(
    {
      id: text(),
      source: text(),
      type: text(),
      specversion: fc.constant('1.0' as const),
      time: rfc3339,
      subject: text(),
      datacontenttype: mediaType,
      dataschema: fc.webUrl({ withQueryParameters: true, withFragments: true }),
      traceparent,
      tracestate,
      correlationid: text(),
      causationid: text(),
      deadline: fc.maxSafeNat(),
      attempt: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      extensions: fc.dictionary(extensionName, text(0), { minKeys: 1, maxKeys: 4, noNullPrototype: true }),
    },
    { requiredKeys: ['id', 'source', 'type', 'specversion'], noNullPrototype: true },
  )
  .map((env) => {
    if (env.traceparent === undefined) delete env.tracestate; // tracestate needs a traceparent
    return env;
  });

export const PREFIXES = ['ce-', 'ce_', '', 'X-CE-'] as const;
