import { describe, expect, it } from 'vitest';
import { CancelSource } from '../../src/core/cancel.js';
import { Context } from '../../src/core/context.js';
import {
  createEnvelope,
  decodeEnvelope,
  encodeEnvelope,
  envelopeContext,
  validateEnvelope,
  type Envelope,
} from '../../src/core/envelope.js';
import { EnvelopeError } from '../../src/core/errors.js';
import { uuidV7Time } from '../../src/core/ids.js';
import { FakeClock } from '../../src/testing/fake-clock.js';

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

const full: Envelope = {
  id: 'evt-1',
  source: '/orders',
  type: 'orders.OrderPlaced',
  specversion: '1.0',
  time: '2026-01-02T03:04:05.678Z',
  subject: 'order/42',
  datacontenttype: 'application/json',
  dataschema: 'urn:courier:orders.OrderPlaced:1',
  traceparent: TP,
  tracestate: 'courier=abc,rojo=00f067aa0ba902b7',
  correlationid: 'corr-1',
  causationid: 'cause-1',
  deadline: 1_767_323_045_678,
  attempt: 3,
  extensions: { tenant: 'acme', partitionkey: 'k1' },
};

function errorOf(fn: () => unknown): EnvelopeError {
  try {
    fn();
  } catch (error) {
    if (error instanceof EnvelopeError) return error;
    throw new Error(`expected EnvelopeError, got ${String(error)}`);
  }
  throw new Error('expected EnvelopeError, nothing was thrown');
}

describe('encodeEnvelope header layout', () => {
  it('uses ce- by default, leaves trace headers unprefixed and maps datacontenttype to content-type', () => {
    expect(encodeEnvelope(full)).toEqual({
      'ce-specversion': '1.0',
      'ce-id': 'evt-1',
      'ce-source': '/orders',
      'ce-type': 'orders.OrderPlaced',
      'ce-time': '2026-01-02T03:04:05.678Z',
      'ce-subject': 'order/42',
      'ce-dataschema': 'urn:courier:orders.OrderPlaced:1',
      'ce-correlationid': 'corr-1',
      'ce-causationid': 'cause-1',
      'content-type': 'application/json',
      'ce-deadline': '1767323045678',
      'ce-attempt': '3',
      traceparent: TP,
      tracestate: 'courier=abc,rojo=00f067aa0ba902b7',
      'ce-tenant': 'acme',
      'ce-partitionkey': 'k1',
    });
  });

  it('writes <prefix>datacontenttype in attribute mode, and the ce_ and empty prefixes', () => {
    expect(encodeEnvelope(full, 'ce_', { contentType: 'attribute' })).toMatchObject({
      ce_id: 'evt-1',
      ce_datacontenttype: 'application/json',
      traceparent: TP,
    });
    const mqtt = encodeEnvelope(full, '');
    expect(mqtt).toMatchObject({
      id: 'evt-1',
      specversion: '1.0',
      tenant: 'acme',
      'content-type': 'application/json',
    });
  });

  it('percent-encodes per the HTTP binding: space, quote, percent and non-ASCII as UTF-8', () => {
    const env: Envelope = { ...full, subject: 'Grüße "x" 100% 🚀' };
    const headers = encodeEnvelope(env, 'ce-', { percentEncode: true });
    expect(headers['ce-subject']).toBe('Gr%C3%BC%C3%9Fe%20%22x%22%20100%25%20%F0%9F%9A%80');
    expect(decodeEnvelope(headers, 'ce-', { percentEncode: true }).subject).toBe('Grüße "x" 100% 🚀');
  });

  it('rejects header injection and other invalid values on encode', () => {
    expect(errorOf(() => encodeEnvelope({ ...full, subject: 'a\r\nx-evil: 1' })).field).toBe('subject');
    expect(errorOf(() => encodeEnvelope({ ...full, extensions: { tenant: 'a\nb' } })).field).toBe('tenant');
    expect(errorOf(() => encodeEnvelope({ ...full, deadline: 1.5 })).field).toBe('deadline');
    expect(errorOf(() => encodeEnvelope({ ...full, deadline: Number.POSITIVE_INFINITY })).field).toBe(
      'deadline',
    );
    expect(errorOf(() => encodeEnvelope({ ...full, attempt: 0 })).field).toBe('attempt');
    expect(errorOf(() => encodeEnvelope({ ...full, time: 'now' })).field).toBe('time');
    expect(errorOf(() => encodeEnvelope({ ...full, specversion: '0.3' as '1.0' })).field).toBe('specversion');
    expect(errorOf(() => encodeEnvelope({ ...full, traceparent: undefined })).field).toBe('tracestate');
  });

  it('rejects reserved and malformed extension names on encode', () => {
    for (const name of ['id', 'traceparent', 'deadline', 'data', 'Tenant', 'with-dash', 'a'.repeat(21), '']) {
      expect(errorOf(() => encodeEnvelope({ ...full, extensions: { [name]: 'x' } })).field).toBe(name);
    }
  });

  it('rejects a prefix that is not an HTTP token', () => {
    expect(errorOf(() => encodeEnvelope(full, 'ce\r\n')).field).toBe('prefix');
    expect(errorOf(() => decodeEnvelope({}, 'c e-')).field).toBe('prefix');
  });

  it('treats empty extensions like none', () => {
    const env: Envelope = { id: 'a', source: 's', type: 't', specversion: '1.0', extensions: {} };
    expect(decodeEnvelope(encodeEnvelope(env))).toStrictEqual({
      id: 'a',
      source: 's',
      type: 't',
      specversion: '1.0',
    });
  });
});

describe('decodeEnvelope', () => {
  const minimal = { 'ce-id': 'a', 'ce-source': 's', 'ce-type': 't', 'ce-specversion': '1.0' };

  it('matches header names case-insensitively', () => {
    const env = decodeEnvelope({
      'CE-ID': 'a',
      'Ce-Source': 's',
      'ce-TYPE': 't',
      'CE-SPECVERSION': '1.0',
      TraceParent: TP,
      'CE-Tenant': 'x',
    });
    expect(env).toStrictEqual({
      id: 'a',
      source: 's',
      type: 't',
      specversion: '1.0',
      traceparent: TP,
      extensions: { tenant: 'x' },
    });
  });

  it('ignores headers outside the prefix (content-length, x-request-id…)', () => {
    const env = decodeEnvelope({ ...minimal, 'content-length': '10', 'x-request-id': 'r', host: 'h' });
    expect(env).toStrictEqual({ id: 'a', source: 's', type: 't', specversion: '1.0' });
  });

  it('with the empty prefix, takes valid attribute names and ignores the rest', () => {
    const env = decodeEnvelope(
      { id: 'a', source: 's', type: 't', specversion: '1.0', 'x-foreign': 'v', tenant: 'acme' },
      '',
    );
    expect(env).toStrictEqual({
      id: 'a',
      source: 's',
      type: 't',
      specversion: '1.0',
      extensions: { tenant: 'acme' },
    });
  });

  it('accepts datacontenttype in either form', () => {
    expect(decodeEnvelope({ ...minimal, 'content-type': 'text/plain' }).datacontenttype).toBe('text/plain');
    expect(decodeEnvelope({ ...minimal, 'ce-datacontenttype': 'text/plain' }).datacontenttype).toBe(
      'text/plain',
    );
  });

  it('accepts a future traceparent version with extra fields (W3C forward compatibility)', () => {
    const future = 'cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-will-be-like';
    expect(decodeEnvelope({ ...minimal, traceparent: future }).traceparent).toBe(future);
  });

  it('throws EnvelopeError("headers") for input that is not an object', () => {
    for (const garbage of [null, undefined, 42, 'ce-id: a', true]) {
      expect(errorOf(() => decodeEnvelope(garbage as unknown as Record<string, string>)).field).toBe(
        'headers',
      );
    }
  });

  it('survives prototype keys as own properties', () => {
    const headers = JSON.parse(
      '{"__proto__": "x", "constructor": "y", "ce-constructor": "z", "ce-id": "a", "ce-source": "s", "ce-type": "t", "ce-specversion": "1.0"}',
    ) as Record<string, string>;
    const env = decodeEnvelope(headers);
    expect(env.extensions).toEqual({ constructor: 'z' });
    expect(Object.getPrototypeOf(env.extensions)).toBe(Object.prototype);
    expect(errorOf(() => decodeEnvelope({ ...headers, 'ce-__proto__': 'p' })).field).toBe('__proto__');
  });

  it('turns a throwing getter into EnvelopeError, not a crash', () => {
    const headers = { ...minimal };
    Object.defineProperty(headers, 'ce-subject', {
      enumerable: true,
      get: () => {
        throw new TypeError('boom');
      },
    });
    const error = errorOf(() => decodeEnvelope(headers));
    expect(error.field).toBe('headers');
    expect(error.cause).toBeInstanceOf(TypeError);
  });

  it('handles huge values and many headers without throwing anything but EnvelopeError', () => {
    const big = 'x'.repeat(2_000_000);
    expect(decodeEnvelope({ ...minimal, 'ce-subject': big }).subject).toBe(big);
    expect(errorOf(() => decodeEnvelope({ ...minimal, 'ce-time': big })).field).toBe('time');
    expect(errorOf(() => decodeEnvelope({ ...minimal, traceparent: big })).field).toBe('traceparent');
    expect(
      errorOf(() => decodeEnvelope({ ...minimal, tracestate: ','.repeat(1_000_000), traceparent: TP })).field,
    ).toBe('tracestate');
    const many: Record<string, string> = { ...minimal };
    for (let i = 0; i < 50_000; i++) many[`x-h${i}`] = 'v';
    expect(decodeEnvelope(many).id).toBe('a');
  });

  it('rejects invalid percent-encoding when decoding percent-encoded headers', () => {
    expect(
      errorOf(() => decodeEnvelope({ ...minimal, 'ce-subject': '100%' }, 'ce-', { percentEncode: true }))
        .field,
    ).toBe('subject');
    expect(
      errorOf(() => decodeEnvelope({ ...minimal, 'ce-subject': '%C3' }, 'ce-', { percentEncode: true }))
        .field,
    ).toBe('subject');
    // A decoded control character is still a control character.
    expect(
      errorOf(() => decodeEnvelope({ ...minimal, 'ce-subject': 'a%0Ab' }, 'ce-', { percentEncode: true }))
        .field,
    ).toBe('subject');
  });

  it('accepts RFC 3339 edge cases: leap day, leap second, lowercase t/z, offsets, long fractions', () => {
    for (const time of [
      '2024-02-29T00:00:00Z',
      '2016-12-31T23:59:60Z',
      '2024-01-01t00:00:00z',
      '2024-01-01T00:00:00.123456789-05:30',
      '0000-01-01T00:00:00+23:59',
    ]) {
      expect(decodeEnvelope({ ...minimal, 'ce-time': time }).time).toBe(time);
    }
  });
});

describe('validateEnvelope', () => {
  it('guards untyped input', () => {
    expect(errorOf(() => validateEnvelope(null)).field).toBe('envelope');
    expect(errorOf(() => validateEnvelope({ id: 1 })).field).toBe('id');
    expect(errorOf(() => validateEnvelope({ ...full, extensions: 'x' })).field).toBe('extensions');
    expect(validateEnvelope(full)).toBe(full);
  });
});

describe('createEnvelope', () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 2, 3, 4, 5, 678));

  it('fills id (UUIDv7) and time from the clock', () => {
    const env = createEnvelope(
      { type: 'orders.OrderPlaced', source: '/orders', subject: 'o/1' },
      undefined,
      clock,
    );
    expect(env).toMatchObject({
      type: 'orders.OrderPlaced',
      source: '/orders',
      subject: 'o/1',
      specversion: '1.0',
      time: '2026-01-02T03:04:05.678Z',
    });
    expect(uuidV7Time(env.id)).toBeTypeOf('number');
    expect(env.traceparent).toBeUndefined();
    expect(env.deadline).toBeUndefined();
  });

  it('copies trace context, correlation, causation and deadline from the context', () => {
    const ctx = new Context({
      traceparent: TP,
      tracestate: 'a=1',
      correlationId: 'c',
      causationId: 'm-1',
      deadline: 1000.9,
    });
    const env = createEnvelope({ type: 't', source: 's' }, ctx, clock);
    expect(env).toMatchObject({
      traceparent: TP,
      tracestate: 'a=1',
      correlationid: 'c',
      causationid: 'm-1',
      deadline: 1000,
    });
  });

  it('lets explicit fields win over the context', () => {
    const ctx = new Context({ correlationId: 'from-ctx', deadline: 5000 });
    const env = createEnvelope(
      { type: 't', source: 's', correlationid: 'explicit', deadline: 4000, id: 'fixed' },
      ctx,
      clock,
    );
    expect(env).toMatchObject({ id: 'fixed', correlationid: 'explicit', deadline: 4000 });
  });

  it('drops an invalid trace context rather than failing the publish', () => {
    const ctx = new Context({ traceparent: 'garbage', tracestate: 'a=1' });
    const env = createEnvelope({ type: 't', source: 's' }, ctx, clock);
    expect(env.traceparent).toBeUndefined();
    expect(env.tracestate).toBeUndefined();
  });

  it('throws EnvelopeError for invalid fields', () => {
    expect(errorOf(() => createEnvelope({ type: '', source: 's' }, undefined, clock)).field).toBe('type');
    expect(
      errorOf(() => createEnvelope({ type: 't', source: 's', subject: 'a\nb' }, undefined, clock)).field,
    ).toBe('subject');
  });
});

describe('envelopeContext', () => {
  it('maps deadline, trace, correlation and attempt into a context', () => {
    const ctx = envelopeContext(full);
    expect(ctx).toMatchObject({
      deadline: full.deadline,
      traceparent: TP,
      tracestate: full.tracestate,
      correlationId: 'corr-1',
      causationId: 'evt-1',
      attempt: 3,
    });
  });

  it('defaults correlation to the message id and attempt to 1', () => {
    const ctx = envelopeContext({ id: 'm', source: 's', type: 't', specversion: '1.0' });
    expect(ctx.correlationId).toBe('m');
    expect(ctx.attempt).toBe(1);
    expect(ctx.deadline).toBeUndefined();
  });

  it("never extends the base context's deadline, and keeps its cancellation", () => {
    const source = new CancelSource();
    const base = new Context({ deadline: 500, cancel: source });
    expect(envelopeContext({ ...full, deadline: 900 }, base).deadline).toBe(500);
    expect(envelopeContext({ ...full, deadline: 300 }, base).deadline).toBe(300);
    expect(envelopeContext(full, base).cancel).toBe(source);
  });

  it('chains causation: a message published while handling another names it as its cause', () => {
    const clock = new FakeClock();
    const first = createEnvelope(
      { type: 'orders.OrderPlaced', source: '/orders' },
      new Context({ traceparent: TP }),
      clock,
    );
    const received = decodeEnvelope(encodeEnvelope(first, 'ce_'), 'ce_');
    const second = createEnvelope({ type: 'mail.Sent', source: '/mail' }, envelopeContext(received), clock);
    expect(second.causationid).toBe(first.id);
    expect(second.correlationid).toBe(first.id);
    expect(second.traceparent).toBe(TP);
    expect(second.id).not.toBe(first.id);
  });
});
