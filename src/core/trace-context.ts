import { randomHex } from './ids.js';

/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` and `tracestate` headers that
 * every Courier hop carries, sync or async, so that producer and consumer spans join one trace.
 *
 * Parsing follows the spec's rules for a receiver:
 * - `traceparent` is `version-traceid-parentid-flags` in lowercase hex. Version `ff` is invalid. Version `00`
 *   is exactly 55 characters. A higher version is parsed as far as the `00` fields go and may carry more
 *   fields after a `-` (forward compatibility). Trace id and parent id must not be all zeros.
 * - `tracestate` is a comma-separated list of at most 32 members (the ABNF's `list-member 0*31(OWS "," OWS
 *   list-member)`, so empty members count), each `key=value` or empty, with optional spaces/tabs around
 *   members; keys are unique; key and value grammars are the spec's.
 *
 * All parsers walk the string once with character-code checks (no regular expressions), so hostile input
 * of any length costs linear time. Invalid input yields `undefined`, never an exception.
 */

/** The sampled bit of `trace-flags`. */
export const SAMPLED_FLAG = 0x01;

export interface TraceParent {
  /** Two lowercase hex digits; `00` for what Courier writes. */
  readonly version: string;
  /** 32 lowercase hex digits, not all zero. */
  readonly traceId: string;
  /** The id of the span that sent this (the caller's span): 16 lowercase hex digits, not all zero. */
  readonly parentId: string;
  /** Trace flags, 0–255; bit 0 is "sampled". */
  readonly flags: number;
}

const TRACEPARENT_00_LENGTH = 55;

/**
 * Parse a `traceparent` header value; undefined if it is not valid. Leading and trailing optional
 * whitespace (space, tab) is ignored, as the W3C test suite requires; see `trimOws`.
 */
export function parseTraceparent(input: unknown): TraceParent | undefined {
  if (typeof input !== 'string') return undefined;
  const value = trimOws(input);
  if (value.length < TRACEPARENT_00_LENGTH) return undefined;
  if (!isLowerHex(value, 0, 2) || value.charCodeAt(2) !== DASH) return undefined;
  const version = value.slice(0, 2);
  if (version === 'ff') return undefined;
  if (
    version === '00'
      ? value.length !== TRACEPARENT_00_LENGTH
      : value.length > TRACEPARENT_00_LENGTH && value.charCodeAt(55) !== DASH
  ) {
    return undefined;
  }
  if (!isLowerHex(value, 3, 35) || value.charCodeAt(35) !== DASH) return undefined;
  if (!isLowerHex(value, 36, 52) || value.charCodeAt(52) !== DASH) return undefined;
  if (!isLowerHex(value, 53, 55)) return undefined;
  const traceId = value.slice(3, 35);
  const parentId = value.slice(36, 52);
  if (isZeros(traceId) || isZeros(parentId)) return undefined;
  return { version, traceId, parentId, flags: Number.parseInt(value.slice(53, 55), 16) };
}

/** True when `value` is a valid `traceparent`. */
export function isValidTraceparent(value: unknown): value is string {
  return parseTraceparent(value) !== undefined;
}

/** Format a version-00 `traceparent`. Throws `TypeError` on ids the spec forbids (wrong length, case, all zeros). */
export function formatTraceparent(fields: { traceId: string; parentId: string; flags?: number }): string {
  const { traceId, parentId } = fields;
  const flags = fields.flags ?? SAMPLED_FLAG;
  if (!isTraceId(traceId)) throw new TypeError(`invalid trace id "${String(traceId)}"`);
  if (!isSpanId(parentId)) throw new TypeError(`invalid parent (span) id "${String(parentId)}"`);
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xff)
    throw new TypeError(`invalid trace flags ${flags}`);
  return `00-${traceId}-${parentId}-${flags.toString(16).padStart(2, '0')}`;
}

/** True for 32 lowercase hex digits, not all zero. */
export function isTraceId(id: unknown): id is string {
  return typeof id === 'string' && id.length === 32 && isLowerHex(id, 0, 32) && !isZeros(id);
}

/** True for 16 lowercase hex digits, not all zero. */
export function isSpanId(id: unknown): id is string {
  return typeof id === 'string' && id.length === 16 && isLowerHex(id, 0, 16) && !isZeros(id);
}

/** A fresh random trace id (32 hex digits). */
export function newTraceId(): string {
  return randomHex(16);
}

/** A fresh random span id (16 hex digits). */
export function newSpanId(): string {
  return randomHex(8);
}

/** Start a new trace: a `traceparent` with a fresh trace id and span id. */
export function newTraceparent(sampled = true): string {
  return formatTraceparent({
    traceId: newTraceId(),
    parentId: newSpanId(),
    flags: sampled ? SAMPLED_FLAG : 0,
  });
}

/**
 * The `traceparent` for a child span of `parent`: same trace id and flags, a fresh span id, version 00.
 * If `parent` is missing or invalid the spec says to start a new trace, and so does this.
 */
export function childTraceparent(parent: string | undefined, spanId: string = newSpanId()): string {
  const p = parseTraceparent(parent);
  if (p === undefined) return formatTraceparent({ traceId: newTraceId(), parentId: spanId });
  // Of a higher version's flags only the bits version 00 defines are kept when downgrading to 00.
  const flags = p.version === '00' ? p.flags : p.flags & SAMPLED_FLAG;
  return formatTraceparent({ traceId: p.traceId, parentId: spanId, flags });
}

/** True when the sampled flag is set. */
export function isSampled(traceparent: TraceParent): boolean {
  return (traceparent.flags & SAMPLED_FLAG) !== 0;
}

// ---------------------------------------------------------------------------------------------- tracestate

/** One `key=value` member of `tracestate`, in header order (most recently updated first). */
export type TraceStateEntry = readonly [key: string, value: string];

export const TRACESTATE_MAX_MEMBERS = 32;

/** Parse a `tracestate` header value into its members; undefined if it is not valid. */
export function parseTracestate(value: unknown): TraceStateEntry[] | undefined {
  if (typeof value !== 'string') return undefined;
  const entries: TraceStateEntry[] = [];
  const seen = new Set<string>();
  let start = 0;
  let members = 0;
  while (start <= value.length) {
    if (++members > TRACESTATE_MAX_MEMBERS) return undefined;
    let end = value.indexOf(',', start);
    if (end < 0) end = value.length;
    // Trim optional whitespace (space, tab) around the member.
    const member = trimOws(value.slice(start, end));
    if (member.length > 0) {
      const eq = member.indexOf('=');
      if (eq < 0) return undefined;
      const key = member.slice(0, eq);
      const val = member.slice(eq + 1);
      if (!isTracestateKey(key) || !isTracestateValue(val) || seen.has(key)) return undefined;
      seen.add(key);
      entries.push([key, val]);
    }
    start = end + 1;
  }
  return entries;
}

/** True when `value` is a valid `tracestate` (an empty string is valid: a list with no members). */
export function isValidTracestate(value: unknown): value is string {
  return parseTracestate(value) !== undefined;
}

/** Format members as a `tracestate` value. Throws `TypeError` on an invalid key or value, a duplicate or more than 32. */
export function formatTracestate(entries: readonly TraceStateEntry[]): string {
  if (entries.length > TRACESTATE_MAX_MEMBERS)
    throw new TypeError(`tracestate has more than ${TRACESTATE_MAX_MEMBERS} members`);
  const seen = new Set<string>();
  for (const [key, value] of entries) {
    if (!isTracestateKey(key)) throw new TypeError(`invalid tracestate key "${key}"`);
    if (!isTracestateValue(value)) throw new TypeError(`invalid tracestate value for "${key}"`);
    if (seen.has(key)) throw new TypeError(`duplicate tracestate key "${key}"`);
    seen.add(key);
  }
  return entries.map(([key, value]) => `${key}=${value}`).join(',');
}

/**
 * The spec's mutation for a vendor that updates its own entry: `key=value` moves to the front, any older
 * entry for `key` is removed, and the last members are dropped beyond 32. An invalid `tracestate` is
 * discarded (as the spec asks) and replaced by the single new member.
 */
export function updateTracestate(tracestate: string | undefined, key: string, value: string): string {
  const rest = (parseTracestate(tracestate ?? '') ?? []).filter(([k]) => k !== key);
  return formatTracestate([[key, value], ...rest.slice(0, TRACESTATE_MAX_MEMBERS - 1)]);
}

/**
 * key = simple-key / multi-tenant-key
 * simple-key = lcalpha 0*255( lcalpha / DIGIT / "_" / "-" / "*" / "/" )
 * multi-tenant-key = tenant-id "@" system-id
 * tenant-id = ( lcalpha / DIGIT ) 0*240( lcalpha / DIGIT / "_" / "-" / "*" / "/" )
 * system-id = lcalpha 0*13( lcalpha / DIGIT / "_" / "-" / "*" / "/" )
 */
export function isTracestateKey(key: string): boolean {
  const at = key.indexOf('@');
  if (at < 0) return key.length <= 256 && isLcAlpha(key.charCodeAt(0)) && allKeyChars(key, 1, key.length);
  const tenantOk =
    at >= 1 &&
    at <= 241 &&
    (isLcAlpha(key.charCodeAt(0)) || isDigit(key.charCodeAt(0))) &&
    allKeyChars(key, 1, at);
  const systemLength = key.length - at - 1;
  return (
    tenantOk &&
    systemLength >= 1 &&
    systemLength <= 14 &&
    isLcAlpha(key.charCodeAt(at + 1)) &&
    allKeyChars(key, at + 2, key.length)
  );
}

/** value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E */
export function isTracestateValue(value: string): boolean {
  const n = value.length;
  if (n < 1 || n > 256 || value.charCodeAt(n - 1) === SPACE) return false;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x2c || c === 0x3d) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------- characters

/** `s` without leading and trailing spaces and tabs (HTTP optional whitespace); `s` itself if it has none. */
export function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isOws(s.charCodeAt(a))) a++;
  while (b > a && isOws(s.charCodeAt(b - 1))) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

const DASH = 0x2d;
const SPACE = 0x20;

function isLowerHex(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

function isZeros(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) !== 0x30) return false;
  return true;
}

function isLcAlpha(c: number): boolean {
  return c >= 0x61 && c <= 0x7a;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function allKeyChars(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    // lcalpha / DIGIT / "_" / "-" / "*" / "/"
    if (!(isLcAlpha(c) || isDigit(c) || c === 0x5f || c === DASH || c === 0x2a || c === 0x2f)) return false;
  }
  return true;
}

function isOws(c: number): boolean {
  return c === SPACE || c === 0x09;
}
