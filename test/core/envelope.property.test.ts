import { validateHeaderName, validateHeaderValue } from 'node:http';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope, type EnvelopeCodecOptions } from '../../src/core/envelope.js';
import { EnvelopeError } from '../../src/core/errors.js';
import { envelope, PREFIXES } from './envelope-arbitraries.js';

const MODES: ReadonlyArray<[string, EnvelopeCodecOptions]> = [
  ['defaults', {}],
  ['content type as attribute', { contentType: 'attribute' }],
  ['percent-encoded', { percentEncode: true }],
  ['attribute + percent-encoded', { contentType: 'attribute', percentEncode: true }],
];

/** decodeEnvelope's promise: it returns an envelope or throws EnvelopeError, nothing else. */
function decodesOrThrowsEnvelopeError(headers: unknown, prefix: string): void {
  try {
    const env = decodeEnvelope(headers as Record<string, string>, prefix);
    expect(typeof env.id).toBe('string');
  } catch (error) {
    if (!(error instanceof EnvelopeError))
      throw new Error(`decodeEnvelope threw a non-EnvelopeError: ${String(error)}`);
    expect(typeof error.field).toBe('string');
  }
}

describe.each(PREFIXES)('envelope round trip with prefix "%s"', (prefix) => {
  it.each(MODES)('encode → decode is the identity (%s)', (_name, options) => {
    fc.assert(
      fc.property(envelope, (env) => {
        const headers = encodeEnvelope(env, prefix, options);
        expect(decodeEnvelope(headers, prefix, options)).toStrictEqual(env);
        // Decoding is case-insensitive: what an HTTP stack that lowercases names delivers decodes the same.
        const lowered = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
        expect(decodeEnvelope(lowered, prefix, options)).toStrictEqual(env);
      }),
      { numRuns: 150 },
    );
  });

  it('percent-encoded headers are valid HTTP/1.1 field names and values, whatever the Unicode', () => {
    fc.assert(
      fc.property(envelope, (env) => {
        for (const [name, value] of Object.entries(encodeEnvelope(env, prefix, { percentEncode: true }))) {
          validateHeaderName(name);
          validateHeaderValue(name, value);
          expect(value).toMatch(/^[\t\x20-\x7e]*$/); // HTAB only inside tracestate (W3C optional whitespace)
        }
      }),
      { numRuns: 100 },
    );
  });

  it('unencoded headers never carry CR, LF or other control characters (HTAB only as tracestate whitespace)', () => {
    fc.assert(
      fc.property(envelope, (env) => {
        for (const [name, value] of Object.entries(encodeEnvelope(env, prefix))) {
          expect(name).not.toMatch(/[\p{Cc}]/u);
          expect(name === 'tracestate' ? value.replaceAll('\t', ' ') : value).not.toMatch(/[\p{Cc}]/u);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('arbitrary header maps: decode returns or throws EnvelopeError, never anything else', () => {
    const key = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.constantFrom(
        '__proto__',
        'constructor',
        'toString',
        'hasOwnProperty',
        'ce-__proto__',
        `${prefix}constructor`,
      ),
      fc
        .constantFrom(
          'id',
          'source',
          'type',
          'specversion',
          'time',
          'deadline',
          'attempt',
          'traceparent',
          'tracestate',
          'content-type',
        )
        .chain((name) => fc.constantFrom(prefix + name, (prefix + name).toUpperCase(), name)),
    );
    const value = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.anything());
    fc.assert(
      fc.property(fc.dictionary(key, value, { maxKeys: 12 }), (headers) =>
        decodesOrThrowsEnvelopeError(headers, prefix),
      ),
      { numRuns: 400 },
    );
  });

  it('valid headers with random edits: decode returns or throws EnvelopeError', () => {
    const edit = fc.oneof(
      fc.record({ kind: fc.constant('delete' as const), index: fc.nat() }),
      fc.record({
        kind: fc.constant('set' as const),
        index: fc.nat(),
        value: fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.anything()),
      }),
      fc.record({ kind: fc.constant('add' as const), name: fc.string(), value: fc.anything() }),
      fc.record({ kind: fc.constant('upper' as const), index: fc.nat() }),
    );
    fc.assert(
      fc.property(envelope, fc.array(edit, { minLength: 1, maxLength: 4 }), (env, edits) => {
        const headers: Record<string, unknown> = { ...encodeEnvelope(env, prefix) };
        for (const e of edits) {
          const names = Object.keys(headers);
          if (e.kind === 'add') headers[e.name] = e.value;
          else if (names.length > 0) {
            const name = names[e.index % names.length]!;
            if (e.kind === 'delete') delete headers[name];
            else if (e.kind === 'set') headers[name] = e.value;
            else headers[name.toUpperCase()] = headers[name];
          }
        }
        decodesOrThrowsEnvelopeError(headers, prefix);
      }),
      { numRuns: 400 },
    );
  });
});
