import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope } from '../../src/core/envelope.js';
import { EnvelopeError } from '../../src/core/errors.js';
import { envelope, PREFIXES } from './envelope-arbitraries.js';

type Headers = Record<string, unknown>;

/** A targeted corruption: what it does to valid headers, and the field the error must name. */
interface Corruption {
  readonly name: string;
  readonly field: string;
  apply(headers: Headers, prefix: string): void;
}

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

const set =
  (attribute: string, value: unknown) =>
  (h: Headers, p: string): void => {
    h[p + attribute] = value;
  };
const remove =
  (attribute: string) =>
  (h: Headers, p: string): void => {
    delete h[p + attribute];
  };
const setTrace =
  (name: 'traceparent' | 'tracestate', value: string) =>
  (h: Headers): void => {
    if (name === 'tracestate') h.traceparent = `00-${TRACE}-${SPAN}-01`;
    h[name] = value;
  };

const CORRUPTIONS: Corruption[] = [
  ...(['id', 'source', 'type'] as const).flatMap((f): Corruption[] => [
    { name: `${f} missing`, field: f, apply: remove(f) },
    { name: `${f} empty`, field: f, apply: set(f, '') },
    { name: `${f} with CRLF`, field: f, apply: set(f, 'a\r\nx-injected: 1') },
    { name: `${f} not a string`, field: f, apply: set(f, 42) },
  ]),
  { name: 'specversion missing', field: 'specversion', apply: remove('specversion') },
  { name: 'specversion 0.3', field: 'specversion', apply: set('specversion', '0.3') },
  { name: 'specversion 1.0 with space', field: 'specversion', apply: set('specversion', '1.0 ') },
  { name: 'time month 13', field: 'time', apply: set('time', '2024-13-01T00:00:00Z') },
  { name: 'time 30 February', field: 'time', apply: set('time', '2024-02-30T00:00:00Z') },
  { name: 'time 29 February 2100', field: 'time', apply: set('time', '2100-02-29T00:00:00Z') },
  { name: 'time with a space for T', field: 'time', apply: set('time', '2024-01-01 00:00:00Z') },
  { name: 'time without zone', field: 'time', apply: set('time', '2024-01-01T00:00:00') },
  { name: 'time hour 24', field: 'time', apply: set('time', '2024-01-01T24:00:00Z') },
  { name: 'time empty fraction', field: 'time', apply: set('time', '2024-01-01T00:00:00.Z') },
  { name: 'time offset without colon', field: 'time', apply: set('time', '2024-01-01T00:00:00+0100') },
  { name: 'time in words', field: 'time', apply: set('time', 'yesterday') },
  { name: 'time epoch number', field: 'time', apply: set('time', '1700000000000') },
  { name: 'subject empty', field: 'subject', apply: set('subject', '') },
  { name: 'subject with LF', field: 'subject', apply: set('subject', 'a\nb') },
  { name: 'subject with NUL', field: 'subject', apply: set('subject', 'a\0b') },
  { name: 'subject with C1 control', field: 'subject', apply: set('subject', 'a\u0085b') },
  { name: 'subject with lone surrogate', field: 'subject', apply: set('subject', 'a\ud800b') },
  { name: 'subject with noncharacter', field: 'subject', apply: set('subject', 'a\uffffb') },
  { name: 'dataschema relative', field: 'dataschema', apply: set('dataschema', '/schemas/order') },
  { name: 'dataschema with space', field: 'dataschema', apply: set('dataschema', 'https://x.test/a b') },
  { name: 'dataschema empty', field: 'dataschema', apply: set('dataschema', '') },
  {
    name: 'content-type not a media type',
    field: 'datacontenttype',
    apply: (h) => (h['content-type'] = 'json'),
  },
  {
    name: 'content-type with CR',
    field: 'datacontenttype',
    apply: (h) => (h['content-type'] = 'text/plain\r'),
  },
  { name: 'correlationid empty', field: 'correlationid', apply: set('correlationid', '') },
  { name: 'causationid with LF', field: 'causationid', apply: set('causationid', 'x\ny') },
  { name: 'deadline fractional', field: 'deadline', apply: set('deadline', '1.5') },
  { name: 'deadline negative', field: 'deadline', apply: set('deadline', '-1') },
  { name: 'deadline unsafe', field: 'deadline', apply: set('deadline', '9007199254740993') },
  { name: 'deadline hex', field: 'deadline', apply: set('deadline', '0x10') },
  { name: 'deadline leading zero', field: 'deadline', apply: set('deadline', '0100') },
  { name: 'deadline empty', field: 'deadline', apply: set('deadline', '') },
  { name: 'deadline huge', field: 'deadline', apply: set('deadline', '9'.repeat(100_000)) },
  { name: 'attempt zero', field: 'attempt', apply: set('attempt', '0') },
  { name: 'attempt negative', field: 'attempt', apply: set('attempt', '-2') },
  { name: 'attempt 1.0', field: 'attempt', apply: set('attempt', '1.0') },
  { name: 'attempt with space', field: 'attempt', apply: set('attempt', ' 1') },
  {
    name: 'traceparent zero trace id',
    field: 'traceparent',
    apply: setTrace('traceparent', `00-${'0'.repeat(32)}-${SPAN}-01`),
  },
  {
    name: 'traceparent zero span id',
    field: 'traceparent',
    apply: setTrace('traceparent', `00-${TRACE}-${'0'.repeat(16)}-01`),
  },
  {
    name: 'traceparent uppercase',
    field: 'traceparent',
    apply: setTrace('traceparent', `00-${TRACE.toUpperCase()}-${SPAN}-01`),
  },
  {
    name: 'traceparent version ff',
    field: 'traceparent',
    apply: setTrace('traceparent', `ff-${TRACE}-${SPAN}-01`),
  },
  {
    name: 'traceparent 00 with extra field',
    field: 'traceparent',
    apply: setTrace('traceparent', `00-${TRACE}-${SPAN}-01-x`),
  },
  {
    name: 'traceparent short',
    field: 'traceparent',
    apply: setTrace('traceparent', `00-${TRACE.slice(1)}-${SPAN}-01`),
  },
  { name: 'tracestate bad key', field: 'tracestate', apply: setTrace('tracestate', 'Bad=1') },
  { name: 'tracestate duplicate key', field: 'tracestate', apply: setTrace('tracestate', 'a=1,a=2') },
  {
    name: 'tracestate without traceparent',
    field: 'tracestate',
    apply: (h) => {
      delete h.traceparent;
      h.tracestate = 'a=1';
    },
  },
  { name: 'extension value with LF', field: 'myext', apply: set('myext', 'a\nb') },
  { name: 'extension value not a string', field: 'myext', apply: set('myext', { nested: true }) },
  {
    name: 'duplicate id in another case',
    field: 'id',
    apply: (h, p) => (h[(p + 'id').toUpperCase()] = 'other'),
  },
  {
    name: 'duplicate datacontenttype forms',
    field: 'datacontenttype',
    apply: (h, p) => ((h['content-type'] = 'text/plain'), (h[`${p}datacontenttype`] = 'text/plain')),
  },
];

/** Corruptions that only make sense under a non-empty prefix (with '' such headers are foreign and ignored). */
const PREFIXED_ONLY: Corruption[] = [
  { name: 'extension name too long', field: 'a'.repeat(21), apply: set('a'.repeat(21), 'x') },
  { name: 'extension name with underscore', field: 'my_ext', apply: set('my_ext', 'x') },
  { name: 'reserved name data', field: 'data', apply: set('data', 'x') },
];

describe.each(PREFIXES)('targeted corruption with prefix "%s"', (prefix) => {
  const corruptions = prefix === '' ? CORRUPTIONS : [...CORRUPTIONS, ...PREFIXED_ONLY];

  it.each(corruptions.map((c) => [c.name, c] as const))(
    '%s → EnvelopeError naming the field',
    (_name, corruption) => {
      fc.assert(
        fc.property(envelope, (env) => {
          const headers: Headers = { ...encodeEnvelope(env, prefix) };
          corruption.apply(headers, prefix);
          let thrown: unknown;
          try {
            decodeEnvelope(headers as Record<string, string>, prefix);
          } catch (error) {
            thrown = error;
          }
          expect(thrown).toBeInstanceOf(EnvelopeError);
          expect((thrown as EnvelopeError).field).toBe(corruption.field);
          expect((thrown as EnvelopeError).code).toBe('INVALID_ENVELOPE');
        }),
        { numRuns: 15 },
      );
    },
  );
});
