import { type Clock, systemClock } from './clock.js';
import { Context } from './context.js';
import { EnvelopeError } from './errors.js';
import { newId } from './ids.js';
import { isValidTraceparent, isValidTracestate, trimOws } from './trace-context.js';

/**
 * The message envelope: CloudEvents 1.0 context attributes plus Courier's extensions (correlation and
 * causation ids, an absolute deadline, the delivery attempt), carried in binary content mode: the body is
 * the event data, the attributes are flat string headers. Any CloudEvents SDK, or a plain client of the
 * broker (pika, paho-mqtt, kafka-python), can read and write them.
 *
 * Header names:
 * - `<prefix><attribute>`, prefix `ce-` by default (the HTTP binding); adapters pass `ce_` (Kafka, AMQP) or
 *   `''` (MQTT 5 user properties).
 * - `traceparent` and `tracestate` never take a prefix (the CloudEvents distributed-tracing extension).
 * - `datacontenttype` travels as the native `content-type` header, as every CloudEvents binding asks
 *   (HTTP Content-Type, Kafka `content-type`, AMQP/MQTT content-type properties, which adapters map to and
 *   from this header). `{ contentType: 'attribute' }` writes `<prefix>datacontenttype` instead. Decoding
 *   accepts either form in either mode, but not both at once.
 * - Decoding matches names case-insensitively (ASCII only). With a non-empty prefix every header under the
 *   prefix must be a known attribute or a valid extension name. With the empty prefix there is no way to
 *   tell attributes from foreign headers, so headers whose names are not valid attribute names are ignored.
 *
 * Values:
 * - Strictly checked on encode and on decode; each failure is an `EnvelopeError` whose `field` names the
 *   attribute (or `headers` / `prefix`). Decoding never throws anything else, whatever it is given.
 * - String values follow the CloudEvents String type: no control characters (C0, DEL, C1, so no CR/LF
 *   header injection), no Unicode noncharacters, no unpaired surrogates.
 * - `{ percentEncode: true }` applies the HTTP binding's rule (3.1.3.2): space, `"`, `%` and everything
 *   outside printable ASCII is percent-encoded as UTF-8, so any Unicode subject survives HTTP headers.
 *   Brokers carry UTF-8 headers and leave it off. Trace headers and `datacontenttype` (printable ASCII by
 *   its own grammar) are never encoded.
 *
 * An envelope with `extensions: {}` encodes like one without; decoding omits `extensions` when there are none.
 */
export interface Envelope {
  id: string;
  /** URI-reference naming the producer, e.g. `/orders` or `urn:courier:orders`. */
  source: string;
  /** e.g. `orders.OrderPlaced`. */
  type: string;
  specversion: '1.0';
  /** RFC 3339 timestamp of the occurrence. */
  time?: string;
  subject?: string;
  /** RFC 2046 media type of the body, e.g. `application/json`. */
  datacontenttype?: string;
  /** Absolute URI of the body's schema. */
  dataschema?: string;
  /** W3C trace context. `tracestate` requires `traceparent`. */
  traceparent?: string;
  tracestate?: string;
  /** The conversation this message belongs to; defaults to the first message's id. */
  correlationid?: string;
  /** The id of the message that caused this one. */
  causationid?: string;
  /** Absolute deadline, epoch ms (a non-negative safe integer). Past it, nobody waits for the outcome. */
  deadline?: number;
  /** Delivery attempt, a positive integer; 1 (or absent) for the first. */
  attempt?: number;
  /** Other CloudEvents extension attributes (names `[a-z0-9]{1,20}`), preserved round trip. */
  extensions?: Record<string, string>;
}

export interface EnvelopeCodecOptions {
  /** Where `datacontenttype` travels: the `content-type` header (default) or `<prefix>datacontenttype`. */
  readonly contentType?: 'header' | 'attribute';
  /** Percent-encode string attribute values (the CloudEvents HTTP binding rule). Default false. */
  readonly percentEncode?: boolean;
}

export const DEFAULT_ENVELOPE_PREFIX = 'ce-';
const CONTENT_TYPE = 'content-type';

/** Attributes with a meaning of their own: never valid as `extensions` keys. */
const KNOWN = new Set([
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
  'data', // reserved by the CloudEvents formats
  'data_base64',
]);

/** Prefixed string attributes, in the order they are written. */
const PREFIXED_TEXT = [
  'id',
  'source',
  'type',
  'time',
  'subject',
  'dataschema',
  'correlationid',
  'causationid',
] as const;

// ------------------------------------------------------------------------------------------------- encode

/** Encode `env` as binary-mode headers. Throws `EnvelopeError` naming the first invalid field. */
export function encodeEnvelope(
  env: Envelope,
  prefix: string = DEFAULT_ENVELOPE_PREFIX,
  options: EnvelopeCodecOptions = {},
): Record<string, string> {
  checkPrefix(prefix);
  const e = validateEnvelope(env);
  const enc = options.percentEncode === true ? percentEncode : identity;
  const out: Record<string, string> = {};
  out[`${prefix}specversion`] = '1.0';
  for (const name of PREFIXED_TEXT) {
    const value = e[name];
    if (value !== undefined) out[prefix + name] = enc(value);
  }
  if (e.datacontenttype !== undefined) {
    if (options.contentType === 'attribute') out[`${prefix}datacontenttype`] = e.datacontenttype;
    else out[CONTENT_TYPE] = e.datacontenttype;
  }
  if (e.deadline !== undefined) out[`${prefix}deadline`] = String(e.deadline);
  if (e.attempt !== undefined) out[`${prefix}attempt`] = String(e.attempt);
  if (e.traceparent !== undefined) out.traceparent = e.traceparent;
  if (e.tracestate !== undefined) out.tracestate = e.tracestate;
  if (e.extensions !== undefined) {
    for (const name of Object.keys(e.extensions)) out[prefix + name] = enc(e.extensions[name]!);
  }
  return out;
}

/**
 * Check every field of `env` (as `encodeEnvelope` does) and return it. Throws `EnvelopeError`.
 * Accepts `unknown` so that it can guard envelopes built from untyped data.
 */
export function validateEnvelope(env: unknown): Envelope {
  if (typeof env !== 'object' || env === null) throw new EnvelopeError('envelope', 'must be an object');
  const e = env as Partial<Record<keyof Envelope, unknown>>;
  checkText('id', e.id, true);
  checkText('source', e.source, true);
  checkText('type', e.type, true);
  if (e.specversion !== '1.0') throw new EnvelopeError('specversion', 'must be "1.0"');
  if (e.time !== undefined) checkTime(e.time);
  if (e.subject !== undefined) checkText('subject', e.subject, true);
  if (e.datacontenttype !== undefined) checkMediaType(e.datacontenttype);
  if (e.dataschema !== undefined) checkUri('dataschema', e.dataschema);
  if (e.traceparent !== undefined && !isValidTraceparent(e.traceparent)) {
    throw new EnvelopeError('traceparent', 'is not a valid W3C traceparent');
  }
  if (e.tracestate !== undefined) {
    if (!isValidTracestate(e.tracestate))
      throw new EnvelopeError('tracestate', 'is not a valid W3C tracestate');
    if (e.traceparent === undefined) throw new EnvelopeError('tracestate', 'requires traceparent');
  }
  if (e.correlationid !== undefined) checkText('correlationid', e.correlationid, true);
  if (e.causationid !== undefined) checkText('causationid', e.causationid, true);
  if (e.deadline !== undefined && !(Number.isSafeInteger(e.deadline) && (e.deadline as number) >= 0)) {
    throw new EnvelopeError('deadline', 'must be a non-negative safe integer (epoch ms)');
  }
  if (e.attempt !== undefined && !(Number.isSafeInteger(e.attempt) && (e.attempt as number) >= 1)) {
    throw new EnvelopeError('attempt', 'must be a positive integer');
  }
  if (e.extensions !== undefined) {
    if (typeof e.extensions !== 'object' || e.extensions === null) {
      throw new EnvelopeError('extensions', 'must be an object of strings');
    }
    const ext = e.extensions as Record<string, unknown>;
    for (const name of Object.keys(ext)) {
      checkExtensionName(name);
      checkText(name, ext[name], false);
    }
  }
  return env as Envelope;
}

// ------------------------------------------------------------------------------------------------- decode

/** Decode binary-mode headers into an envelope. Throws `EnvelopeError`, and nothing else, on any input. */
export function decodeEnvelope(
  headers: Readonly<Record<string, string>>,
  prefix: string = DEFAULT_ENVELOPE_PREFIX,
  options: EnvelopeCodecOptions = {},
): Envelope {
  try {
    return decode(headers, prefix, options.percentEncode === true);
  } catch (error) {
    if (error instanceof EnvelopeError) throw error;
    // Only exotic input gets here (a proxy or getter that throws): still the promised error type.
    throw new EnvelopeError('headers', 'could not be read', { cause: error });
  }
}

function decode(headers: Readonly<Record<string, string>>, prefix: string, percent: boolean): Envelope {
  checkPrefix(prefix);
  if (typeof headers !== 'object' || headers === null)
    throw new EnvelopeError('headers', 'must be an object');
  const lowerPrefix = asciiLower(prefix);
  // Raw values by attribute name; a Map so that no header name can reach an object prototype.
  const raw = new Map<string, unknown>();
  const put = (attribute: string, value: unknown): void => {
    if (raw.has(attribute))
      throw new EnvelopeError(attribute, 'is given twice (header names are case-insensitive)');
    raw.set(attribute, value);
  };
  for (const header of Object.keys(headers)) {
    const name = asciiLower(header);
    const value: unknown = headers[header];
    if (name === 'traceparent' || name === 'tracestate') put(name, value);
    else if (name === CONTENT_TYPE) put('datacontenttype', value);
    else if (name.startsWith(lowerPrefix)) {
      const attribute = name.slice(lowerPrefix.length);
      if (attribute === 'data' || attribute === 'data_base64') {
        // Reserved by CloudEvents: an error under our prefix, a foreign header without one.
        if (lowerPrefix !== '') throw new EnvelopeError(attribute, 'is reserved');
      } else if (KNOWN.has(attribute) || isExtensionName(attribute)) put(attribute, value);
      else if (lowerPrefix !== '') checkExtensionName(attribute || name); // throws: a malformed name under our prefix
    }
  }
  // A header value, percent-decoded when asked; trace headers and datacontenttype are never encoded.
  const text = (attribute: string, value: unknown): unknown =>
    percent && typeof value === 'string' && value.includes('%') ? percentDecode(attribute, value) : value;

  const env: Envelope = { id: '', source: '', type: '', specversion: '1.0' };
  for (const name of ['id', 'source', 'type'] as const) {
    const value = text(name, raw.get(name));
    if (value === undefined) throw new EnvelopeError(name, 'is missing');
    env[name] = checkText(name, value, true);
  }
  const specversion = raw.get('specversion');
  if (specversion === undefined) throw new EnvelopeError('specversion', 'is missing');
  if (specversion !== '1.0') throw new EnvelopeError('specversion', 'must be "1.0"');

  const time = text('time', raw.get('time'));
  if (time !== undefined) env.time = checkTime(time);
  const subject = text('subject', raw.get('subject'));
  if (subject !== undefined) env.subject = checkText('subject', subject, true);
  const contentType = raw.get('datacontenttype');
  if (contentType !== undefined) env.datacontenttype = checkMediaType(contentType);
  const dataschema = text('dataschema', raw.get('dataschema'));
  if (dataschema !== undefined) env.dataschema = checkUri('dataschema', dataschema);

  const traceparent = raw.get('traceparent');
  if (traceparent !== undefined) {
    if (!isValidTraceparent(traceparent))
      throw new EnvelopeError('traceparent', 'is not a valid W3C traceparent');
    env.traceparent = trimOws(traceparent); // stored without the optional whitespace HTTP allows around it
  }
  const tracestate = raw.get('tracestate');
  if (tracestate !== undefined) {
    if (!isValidTracestate(tracestate))
      throw new EnvelopeError('tracestate', 'is not a valid W3C tracestate');
    if (traceparent === undefined) throw new EnvelopeError('tracestate', 'requires traceparent');
    env.tracestate = tracestate;
  }
  const correlationid = text('correlationid', raw.get('correlationid'));
  if (correlationid !== undefined) env.correlationid = checkText('correlationid', correlationid, true);
  const causationid = text('causationid', raw.get('causationid'));
  if (causationid !== undefined) env.causationid = checkText('causationid', causationid, true);
  const deadline = raw.get('deadline');
  if (deadline !== undefined) env.deadline = parseInteger('deadline', deadline, 0);
  const attempt = raw.get('attempt');
  if (attempt !== undefined) env.attempt = parseInteger('attempt', attempt, 1);

  let extensions: Record<string, string> | undefined;
  for (const [name, value] of raw) {
    if (KNOWN.has(name)) continue;
    (extensions ??= {})[name] = checkText(name, text(name, value), false);
  }
  if (extensions !== undefined) env.extensions = extensions;
  return env;
}

// ---------------------------------------------------------------------------------------- context bridge

/** What `createEnvelope` needs; everything else comes from the context or is generated. */
export type EnvelopeFields = { type: string; source: string } & Partial<
  Omit<Envelope, 'type' | 'source' | 'specversion'>
>;

/**
 * A new envelope: a fresh id (UUIDv7) and time (on `clock`), with the trace context, correlation id and
 * deadline copied from `ctx`, and `causationid` set to `ctx.causationId`, which `envelopeContext` sets to the
 * id of the message being handled: so a message published while handling another names it as its cause.
 * Explicit `fields` win over the context. An invalid trace context in `ctx` is dropped (the W3C rule: restart
 * the trace rather than fail); a fractional deadline is rounded down (earlier, never later).
 * Throws `EnvelopeError` if the result is not a valid envelope.
 */
export function createEnvelope(fields: EnvelopeFields, ctx?: Context, clock: Clock = systemClock): Envelope {
  const env: Envelope = {
    id: fields.id ?? newId(),
    source: fields.source,
    type: fields.type,
    specversion: '1.0',
  };
  env.time = fields.time ?? new Date(clock.now()).toISOString();
  if (fields.subject !== undefined) env.subject = fields.subject;
  if (fields.datacontenttype !== undefined) env.datacontenttype = fields.datacontenttype;
  if (fields.dataschema !== undefined) env.dataschema = fields.dataschema;

  const traceparent =
    fields.traceparent ?? (isValidTraceparent(ctx?.traceparent) ? ctx.traceparent : undefined);
  if (traceparent !== undefined) {
    env.traceparent = traceparent;
    const tracestate = fields.tracestate ?? (isValidTracestate(ctx?.tracestate) ? ctx.tracestate : undefined);
    if (tracestate !== undefined) env.tracestate = tracestate;
  } else if (fields.tracestate !== undefined) {
    env.tracestate = fields.tracestate; // rejected below: tracestate without traceparent
  }
  const correlationid = fields.correlationid ?? ctx?.correlationId;
  if (correlationid !== undefined) env.correlationid = correlationid;
  const causationid = fields.causationid ?? ctx?.causationId;
  if (causationid !== undefined) env.causationid = causationid;
  const deadline = fields.deadline ?? ctx?.deadline;
  if (deadline !== undefined && Number.isFinite(deadline)) env.deadline = Math.floor(deadline);
  if (fields.attempt !== undefined) env.attempt = fields.attempt;
  if (fields.extensions !== undefined && Object.keys(fields.extensions).length > 0)
    env.extensions = { ...fields.extensions };
  return validateEnvelope(env);
}

/**
 * The context a consumer runs a message in: the message's deadline (never later than `base`'s), its trace
 * context, its correlation id (the message id when it has none), `causationId` = the message id (see
 * `createEnvelope`) and its delivery attempt. Cancellation, metadata and the rest come from `base`.
 */
export function envelopeContext(env: Envelope, base: Context = Context.background): Context {
  const ctx = base.with({
    correlationId: env.correlationid ?? env.id,
    causationId: env.id,
    traceparent: env.traceparent,
    tracestate: env.traceparent === undefined ? undefined : env.tracestate,
    attempt: env.attempt ?? 1,
  });
  return env.deadline === undefined ? ctx : ctx.withDeadline(env.deadline);
}

// ------------------------------------------------------------------------------------------------ checks

function checkPrefix(prefix: unknown): void {
  if (typeof prefix !== 'string' || prefix.length > 64 || !isToken(prefix, 0, prefix.length)) {
    throw new EnvelopeError('prefix', 'must be a string of HTTP token characters, at most 64');
  }
}

function isExtensionName(name: string): boolean {
  const n = name.length;
  if (n < 1 || n > 20) return false;
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39))) return false;
  }
  return true;
}

function checkExtensionName(name: string): void {
  if (!isExtensionName(name)) throw new EnvelopeError(name, 'is not a valid extension name ([a-z0-9]{1,20})');
  if (KNOWN.has(name)) throw new EnvelopeError(name, 'is a reserved attribute name, not an extension');
}

/** A CloudEvents String: no control characters, noncharacters or unpaired surrogates. Returns it. */
function checkText(field: string, value: unknown, nonEmpty: boolean): string {
  if (typeof value !== 'string')
    throw new EnvelopeError(field, value === undefined ? 'is missing' : 'must be a string');
  if (nonEmpty && value.length === 0) throw new EnvelopeError(field, 'must not be empty');
  const bad = badCharacter(value);
  if (bad !== undefined) throw new EnvelopeError(field, `contains a forbidden character (${bad})`);
  return value;
}

/** A description of the first character the CloudEvents String type forbids, or undefined. */
function badCharacter(s: string): string | undefined {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f) continue; // printable ASCII: the common case
    if (c < 0x20 || c <= 0x9f) return `control character U+${hex4(c)}`;
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1); // NaN at the end
      if (!(d >= 0xdc00 && d <= 0xdfff)) return 'unpaired surrogate';
      const cp = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
      if ((cp & 0xfffe) === 0xfffe) return `noncharacter U+${cp.toString(16).toUpperCase()}`;
      i++;
      continue;
    }
    if (c >= 0xdc00 && c <= 0xdfff) return 'unpaired surrogate';
    if ((c >= 0xfdd0 && c <= 0xfdef) || c >= 0xfffe) return `noncharacter U+${hex4(c)}`;
  }
  return undefined;
}

function hex4(c: number): string {
  return c.toString(16).toUpperCase().padStart(4, '0');
}

/** RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, with real calendar and clock ranges. */
function checkTime(value: unknown): string {
  const s = checkText('time', value, true);
  if (!isRfc3339(s)) throw new EnvelopeError('time', 'is not an RFC 3339 timestamp');
  return s;
}

function isRfc3339(s: string): boolean {
  if (s.length < 20) return false;
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  const second = digits(s, 17, 2);
  if (s[4] !== '-' || s[7] !== '-' || (s[10] !== 'T' && s[10] !== 't') || s[13] !== ':' || s[16] !== ':')
    return false;
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return false;
  if (hour > 23 || minute > 59 || second > 60) return false; // 60: a leap second
  let i = 19;
  if (s[i] === '.') {
    const start = ++i;
    while (i < s.length && isDigitCode(s.charCodeAt(i))) i++;
    if (i === start) return false;
  }
  const zone = s[i];
  if (zone === 'Z' || zone === 'z') return i + 1 === s.length;
  if (zone !== '+' && zone !== '-') return false;
  if (s.length !== i + 6 || s[i + 3] !== ':') return false;
  const offsetHour = digits(s, i + 1, 2);
  const offsetMinute = digits(s, i + 4, 2);
  return offsetHour <= 23 && offsetMinute <= 59;
}

/** The number made of `count` ASCII digits at `from`, or -1 if any is not a digit. */
function digits(s: string, from: number, count: number): number {
  let n = 0;
  for (let i = from; i < from + count; i++) {
    const c = s.charCodeAt(i);
    if (!isDigitCode(c)) return -1;
    n = n * 10 + (c - 0x30);
  }
  return n;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** An absolute URI (RFC 3986): a scheme, ':', then URI characters only (no spaces, quotes, brackets…). */
function checkUri(field: string, value: unknown): string {
  const s = checkText(field, value, true);
  const colon = s.indexOf(':');
  let ok = colon >= 1 && isAlpha(s.charCodeAt(0));
  for (let i = 1; ok && i < colon; i++) {
    const c = s.charCodeAt(i);
    ok = isAlpha(c) || isDigitCode(c) || c === 0x2b || c === 0x2d || c === 0x2e; // + - .
  }
  for (let i = colon + 1; ok && i < s.length; i++) ok = isUriChar(s.charCodeAt(i));
  if (!ok) throw new EnvelopeError(field, 'is not an absolute URI');
  return s;
}

function isUriChar(c: number): boolean {
  // Printable ASCII except space " < > \ ^ ` { | }
  return (
    c > 0x20 &&
    c < 0x7f &&
    c !== 0x22 &&
    c !== 0x3c &&
    c !== 0x3e &&
    c !== 0x5c &&
    c !== 0x5e &&
    c !== 0x60 &&
    c !== 0x7b &&
    c !== 0x7c &&
    c !== 0x7d
  );
}

/** RFC 2046 media type: `type/subtype`, then optional parameters; printable ASCII and spaces only. */
function checkMediaType(value: unknown): string {
  const s = checkText('datacontenttype', value, true);
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7e) throw new EnvelopeError('datacontenttype', 'must be ASCII');
  }
  const slash = s.indexOf('/');
  let end = s.indexOf(';');
  if (end < 0) end = s.length;
  let subtypeEnd = end;
  while (
    subtypeEnd > slash + 1 &&
    (s.charCodeAt(subtypeEnd - 1) === 0x20 || s.charCodeAt(subtypeEnd - 1) === 0x09)
  )
    subtypeEnd--;
  if (
    slash < 1 ||
    slash > end ||
    !isToken(s, 0, slash) ||
    subtypeEnd === slash + 1 ||
    !isToken(s, slash + 1, subtypeEnd)
  ) {
    throw new EnvelopeError('datacontenttype', 'is not a media type (type/subtype)');
  }
  return s;
}

/** HTTP token characters (RFC 9110): ALPHA DIGIT ! # $ % & ' * + - . ^ _ ` | ~ */
function isToken(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (isAlpha(c) || isDigitCode(c)) continue;
    if ("!#$%&'*+-.^_`|~".indexOf(String.fromCharCode(c)) < 0) return false;
  }
  return true;
}

/** A canonical decimal integer (no sign, no leading zeros) ≥ `min` and safe. */
function parseInteger(field: 'deadline' | 'attempt', value: unknown, min: number): number {
  const what = field === 'deadline' ? 'a non-negative safe integer (epoch ms)' : 'a positive integer';
  if (typeof value !== 'string' || value.length === 0 || value.length > 16)
    throw new EnvelopeError(field, `must be ${what}`);
  if (value.length > 1 && value.charCodeAt(0) === 0x30)
    throw new EnvelopeError(field, `must be ${what} without leading zeros`);
  const n = digits(value, 0, value.length);
  if (n < min || !Number.isSafeInteger(n)) throw new EnvelopeError(field, `must be ${what}`);
  return n;
}

function isAlpha(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isDigitCode(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Lowercase ASCII letters only (HTTP header names are ASCII; Unicode case rules must not create matches). */
function asciiLower(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
  }
  return s;
}

// ------------------------------------------------------------------------------------- percent-encoding

function identity(s: string): string {
  return s;
}

/** Percent-encode (UTF-8) space, `"`, `%` and everything outside printable ASCII. Input is already checked. */
function percentEncode(s: string): string {
  let i = 0;
  while (i < s.length && isUnencoded(s.charCodeAt(i))) i++;
  if (i === s.length) return s;
  let out = s.slice(0, i);
  for (const ch of s.slice(i)) out += ch.length === 1 && isUnencoded(ch.charCodeAt(0)) ? ch : utf8Percent(ch);
  return out;
}

function isUnencoded(c: number): boolean {
  return c > 0x20 && c < 0x7f && c !== 0x22 && c !== 0x25;
}

function utf8Percent(ch: string): string {
  let out = '';
  for (const b of Buffer.from(ch, 'utf8')) out += `%${b < 16 ? '0' : ''}${b.toString(16).toUpperCase()}`;
  return out;
}

function percentDecode(field: string, s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new EnvelopeError(field, 'has invalid percent-encoding');
  }
}
