import { ValidationError } from '../../core/errors.js';
import { BadRequestError } from '../errors.js';
import { parseJsonBody } from '../http/safe-json.js';
import type { FieldType, ProtoMessage } from './proto-schema.js';

/**
 * Courier's protobuf codec, driven by the message descriptions of `proto-schema.ts` (the same ones the
 * generated `.proto` is rendered from). No protobufjs at runtime: a contract's messages are a handful of
 * known fields, so a small interpreter over precomputed per-field plans (tag bytes, wire type, kind as a
 * small integer) is all it takes.
 *
 * Encoding writes into one module-level scratch buffer that grows as needed, then copies the bytes out once:
 * one allocation per message (from Node's buffer pool for small ones). `encodeFrame` writes the gRPC
 * length prefix in front, so a frame is also one allocation. A nested message reserves one length byte and
 * shifts its bytes in the rare case the length needs more (≥ 128 bytes); strings are written with a JS loop
 * when short and ASCII, by `Buffer#write` otherwise. Encoding is synchronous and not re-entrant.
 *
 * Contract:
 * - `undefined` and `null` properties are not written (proto3: absent); every other present value is
 *   written, defaults included, so that presence survives. Repeated numbers and booleans are packed.
 * - A value of the wrong type throws `ValidationError` with the path (`items[2].qty: expected integer, got
 *   1.5`); a value with `toJSON` (a `Date`) is converted first. Integers must be safe integers.
 * - Decoding accepts what any proto3 encoder writes: fields in any order, packed or unpacked repeated
 *   scalars, unknown fields (skipped), absent fields (see `Presence`). A repeated message field, or a
 *   message field sent twice, takes the last occurrence. Malformed input (truncated, a wire type that does
 *   not fit the field, nesting over 64 deep, invalid JSON in a JSON field) throws `BadRequestError`
 *   (reason `malformed-body`). Strings are decoded as UTF-8 (invalid bytes become U+FFFD).
 * - Decoded objects have keys in field order for the fields present, then defaults for absent required
 *   ones; map keys are own properties even when named `__proto__`.
 */

// Kinds as small integers: the hot switch compares numbers.
const K_STRING = 0;
const K_INT64 = 1;
const K_DOUBLE = 2;
const K_BOOL = 3;
const K_JSON = 4;
const K_MESSAGE = 5;
const K_MAP = 6;

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

const P_REQUIRED = 0;
const P_OPTIONAL = 1;
const P_NULLABLE = 2;

const MAX_DEPTH = 64;

interface FieldPlan {
  readonly key: string;
  readonly number: number;
  readonly kind: number;
  readonly repeated: boolean;
  readonly presence: number;
  /** The tag of the field as written (wire type LEN for packed and length-delimited kinds). */
  readonly tag: number;
  /** Message kind: the nested plan (resolved lazily, messages may be recursive). */
  message: MessagePlan | undefined;
  readonly messageDesc: ProtoMessage | undefined;
  /** Map kind: the value's kind and plan. */
  readonly mapValue: FieldPlan | undefined;
  /** `__proto__` must be defined, not assigned. */
  readonly unsafeKey: boolean;
}

interface MessagePlan {
  readonly name: string;
  readonly fields: readonly FieldPlan[];
  /** Field plan by field number (dense: numbers are 1…n). */
  readonly byNumber: ReadonlyArray<FieldPlan | undefined>;
  readonly wrapper: boolean;
  /** Fields that decode to a value when absent (required, nullable, required repeated). */
  readonly defaulted: readonly FieldPlan[];
}

/** Encodes and decodes one message type. Build with `messageCodec`; cached per description. */
export interface MessageCodec {
  readonly name: string;
  /** The protobuf bytes of `value`. */
  encode(value: unknown, what?: string): Buffer;
  /** A gRPC frame: 1 byte "not compressed", 4 bytes big-endian length, the message. */
  encodeFrame(value: unknown, what?: string): Buffer;
  decode(bytes: Uint8Array, start?: number, end?: number): unknown;
}

const codecs = new WeakMap<ProtoMessage, MessageCodec>();
const plans = new WeakMap<ProtoMessage, MessagePlan>();

export function messageCodec(message: ProtoMessage): MessageCodec {
  const hit = codecs.get(message);
  if (hit !== undefined) return hit;
  const plan = planOf(message);
  const codec: MessageCodec = {
    name: message.name,
    encode: (value, what) => finish(plan, value, what, 0),
    encodeFrame: (value, what) => finish(plan, value, what, 5),
    decode: (bytes, start = 0, end = bytes.length) => decodeTop(plan, bytes, start, end),
  };
  codecs.set(message, codec);
  return codec;
}

function planOf(message: ProtoMessage): MessagePlan {
  const hit = plans.get(message);
  if (hit !== undefined) return hit;
  const fields: FieldPlan[] = [];
  const byNumber: Array<FieldPlan | undefined> = [];
  const plan: MessagePlan = {
    name: message.name,
    fields,
    byNumber,
    wrapper: message.wrapper,
    defaulted: [],
  };
  plans.set(message, plan); // before the fields: a recursive message refers to itself
  for (const f of message.fields) {
    const field = fieldPlan(f.key, f.number, f.type, f.repeated, f.presence === 'required' ? P_REQUIRED : f.presence === 'optional' ? P_OPTIONAL : P_NULLABLE);
    fields.push(field);
    byNumber[f.number] = field;
    if (field.presence !== P_OPTIONAL) (plan.defaulted as FieldPlan[]).push(field);
  }
  return plan;
}

function kindOf(type: FieldType): number {
  switch (type.kind) {
    case 'scalar':
      return type.scalar === 'string' ? K_STRING : type.scalar === 'int64' ? K_INT64 : type.scalar === 'double' ? K_DOUBLE : K_BOOL;
    case 'json':
      return K_JSON;
    case 'message':
      return K_MESSAGE;
    case 'map':
      return K_MAP;
  }
}

function wireTypeOf(kind: number, repeated: boolean): number {
  if (repeated && (kind === K_INT64 || kind === K_DOUBLE || kind === K_BOOL)) return WIRE_LEN; // packed
  if (kind === K_INT64 || kind === K_BOOL) return WIRE_VARINT;
  if (kind === K_DOUBLE) return WIRE_I64;
  return WIRE_LEN;
}

function fieldPlan(key: string, number: number, type: FieldType, repeated: boolean, presence: number): FieldPlan {
  const kind = kindOf(type);
  const plan: FieldPlan = {
    key,
    number,
    kind,
    repeated,
    presence,
    tag: number * 8 + wireTypeOf(kind, repeated),
    message: undefined,
    messageDesc: type.kind === 'message' ? type.message : undefined,
    mapValue: type.kind === 'map' ? fieldPlan('value', 2, type.value, false, P_REQUIRED) : undefined,
    unsafeKey: key === '__proto__',
  };
  return plan;
}

function nestedPlan(field: FieldPlan): MessagePlan {
  return (field.message ??= planOf(field.messageDesc!));
}

// ------------------------------------------------------------------------------------------------ writer

let buf = Buffer.allocUnsafe(64 * 1024);
let pos = 0;

function ensure(extra: number): void {
  if (pos + extra <= buf.length) return;
  const next = Buffer.allocUnsafe(Math.max(buf.length * 2, pos + extra));
  buf.copy(next, 0, 0, pos);
  buf = next;
}

function writeVarint32(value: number): void {
  // value is a non-negative integer below 2^32
  while (value > 127) {
    buf[pos++] = (value & 127) | 128;
    value >>>= 7;
  }
  buf[pos++] = value;
}

function writeInt64(value: number): void {
  if (value >= 0 && value < 268435456) {
    writeVarint32(value);
    return;
  }
  const negative = value < 0;
  if (negative) value = -value;
  let lo = value >>> 0;
  let hi = ((value - lo) / 4294967296) >>> 0;
  if (negative) {
    hi = ~hi >>> 0;
    lo = ~lo >>> 0;
    if (++lo > 4294967295) {
      lo = 0;
      if (++hi > 4294967295) hi = 0;
    }
  }
  while (hi !== 0) {
    buf[pos++] = (lo & 127) | 128;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  while (lo > 127) {
    buf[pos++] = (lo & 127) | 128;
    lo >>>= 7;
  }
  buf[pos++] = lo;
}

/** Reserve one length byte at `pos`; returns where the content starts. */
function openLength(): number {
  pos++;
  return pos;
}

/** Write the length of the content started at `start` before it, shifting the content when the varint is longer than one byte. */
function closeLength(start: number): void {
  const length = pos - start;
  if (length < 128) {
    buf[start - 1] = length;
    return;
  }
  const size = length < 16384 ? 2 : length < 2097152 ? 3 : length < 268435456 ? 4 : 5;
  ensure(size - 1);
  buf.copyWithin(start - 1 + size, start, pos);
  let p = start - 1;
  let v = length;
  while (v > 127) {
    buf[p++] = (v & 127) | 128;
    v >>>= 7;
  }
  buf[p] = v;
  pos += size - 1;
}

function writeString(value: string): void {
  const n = value.length;
  if (n < 42) {
    // At most 3 bytes per UTF-16 unit: the length fits one byte. Try ASCII first.
    ensure(1 + n * 3);
    const lengthAt = pos++;
    let i = 0;
    for (; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c >= 128) break;
      buf[pos + i] = c;
    }
    if (i === n) {
      pos += n;
      buf[lengthAt] = n;
      return;
    }
    const written = buf.write(value, lengthAt + 1, 'utf8');
    buf[lengthAt] = written;
    pos = lengthAt + 1 + written;
    return;
  }
  const bytes = Buffer.byteLength(value, 'utf8');
  ensure(5 + bytes);
  writeVarint32(bytes);
  pos += buf.write(value, pos, 'utf8');
}

function writeDouble(value: number): void {
  buf.writeDoubleLE(value, pos);
  pos += 8;
}

function finish(plan: MessagePlan, value: unknown, what: string | undefined, prefix: number): Buffer {
  pos = prefix;
  try {
    if (plan.wrapper) writeFields(plan, { value }, 0, what);
    else writeFields(plan, asObject(value, plan, what, []), 0, what);
  } catch (error) {
    pos = 0;
    throw error instanceof EncodeFailure ? error.toValidationError(what) : error;
  }
  const length = pos;
  const out = Buffer.allocUnsafe(length);
  buf.copy(out, 0, 0, length);
  if (prefix === 5) {
    out[0] = 0;
    out.writeUInt32BE(length - 5, 1);
  }
  pos = 0;
  return out;
}

/** A wrong-typed value, with the path to it; turned into a `ValidationError` at the top. */
class EncodeFailure extends Error {
  constructor(
    readonly path: Array<string | number>,
    readonly expected: string,
    readonly got: unknown,
  ) {
    super(`expected ${expected}`);
  }

  toValidationError(what: string | undefined): ValidationError {
    return new ValidationError([{ path: this.path, message: `expected ${this.expected}, got ${describe(this.got)}` }], what ?? 'message');
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number' && !Number.isSafeInteger(value)) return String(value);
  return typeof value;
}

function asObject(value: unknown, _plan: MessagePlan, _what: string | undefined, path: Array<string | number>): Record<string, unknown> {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return asObject(toJSON.call(value), _plan, _what, path);
    return value as Record<string, unknown>;
  }
  throw new EncodeFailure(path, 'object', value);
}

function writeFields(plan: MessagePlan, object: Record<string, unknown>, depth: number, what: string | undefined): void {
  if (depth > MAX_DEPTH) throw new EncodeFailure([], `nesting at most ${MAX_DEPTH} deep`, 'deeper');
  const fields = plan.fields;
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    const value = field.unsafeKey ? Object.getOwnPropertyDescriptor(object, field.key)?.value : object[field.key];
    if (value === undefined || value === null) continue;
    try {
      if (field.repeated) writeRepeated(field, value, depth, what);
      else {
        ensure(16);
        writeVarint32(field.tag);
        writeValue(field, field.kind, value, depth, what);
      }
    } catch (error) {
      if (error instanceof EncodeFailure && !plan.wrapper) error.path.unshift(field.key);
      throw error;
    }
  }
}

function writeRepeated(field: FieldPlan, value: unknown, depth: number, what: string | undefined): void {
  if (!Array.isArray(value)) throw new EncodeFailure([], 'array', value);
  const kind = field.kind;
  if (kind === K_INT64 || kind === K_DOUBLE || kind === K_BOOL) {
    if (value.length === 0) return;
    ensure(16);
    writeVarint32(field.tag);
    const start = openLength();
    for (let i = 0; i < value.length; i++) {
      try {
        ensure(16);
        writeValue(field, kind, value[i], depth, what);
      } catch (error) {
        if (error instanceof EncodeFailure) error.path.unshift(i);
        throw error;
      }
    }
    closeLength(start);
    return;
  }
  for (let i = 0; i < value.length; i++) {
    const item: unknown = value[i];
    try {
      if (item === null || item === undefined) {
        if (kind !== K_JSON) throw new EncodeFailure([], kind === K_MESSAGE ? 'object' : 'string', item);
      }
      ensure(16);
      writeVarint32(field.tag);
      writeValue(field, kind, item, depth, what);
    } catch (error) {
      if (error instanceof EncodeFailure) error.path.unshift(i);
      throw error;
    }
  }
}

function writeValue(field: FieldPlan, kind: number, value: unknown, depth: number, what: string | undefined): void {
  switch (kind) {
    case K_STRING:
      if (typeof value !== 'string') {
        const converted = viaToJSON(value);
        if (typeof converted !== 'string') throw new EncodeFailure([], 'string', value);
        writeString(converted);
        return;
      }
      writeString(value);
      return;
    case K_INT64:
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new EncodeFailure([], 'integer', value);
      writeInt64(value);
      return;
    case K_DOUBLE:
      if (typeof value !== 'number') throw new EncodeFailure([], 'number', value);
      writeDouble(value);
      return;
    case K_BOOL:
      if (typeof value !== 'boolean') throw new EncodeFailure([], 'boolean', value);
      buf[pos++] = value ? 1 : 0;
      return;
    case K_JSON: {
      const json = JSON.stringify(value);
      writeString(json === undefined ? 'null' : json);
      return;
    }
    case K_MESSAGE: {
      const plan = nestedPlan(field);
      const object = asObject(value, plan, what, []);
      const start = openLength();
      writeFields(plan, object, depth + 1, what);
      closeLength(start);
      return;
    }
    case K_MAP: {
      const object = asObject(value, nestedPlanless, what, []);
      const valuePlan = field.mapValue!;
      // Entries are messages { key = 1; value = 2 }, one per own enumerable key.
      let first = true;
      for (const key of Object.keys(object)) {
        const v = object[key];
        if (v === undefined) continue;
        if (!first) {
          ensure(16);
          writeVarint32(field.tag);
        }
        first = false;
        const start = openLength();
        ensure(16);
        buf[pos++] = 0x0a;
        writeString(key);
        if (v !== null || valuePlan.kind === K_JSON) {
          ensure(16);
          writeVarint32(valuePlan.tag);
          try {
            writeValue(valuePlan, valuePlan.kind, v, depth + 1, what);
          } catch (error) {
            if (error instanceof EncodeFailure) error.path.unshift(key);
            throw error;
          }
        }
        closeLength(start);
      }
      // The tag was written before the first entry; with no entries, take it back.
      if (first) unwriteTag(field.tag);
      return;
    }
    default:
      throw new Error(`unknown field kind ${kind}`);
  }
}

const nestedPlanless: MessagePlan = { name: 'map', fields: [], byNumber: [], wrapper: false, defaulted: [] };

function unwriteTag(tag: number): void {
  pos -= tag < 128 ? 1 : tag < 16384 ? 2 : tag < 2097152 ? 3 : 4;
}

function viaToJSON(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return (value as { toJSON: () => unknown }).toJSON();
  }
  return value;
}

// ------------------------------------------------------------------------------------------------ reader

let rbuf: Buffer = buf;
let rpos = 0;

function malformed(message: string): BadRequestError {
  return new BadRequestError('malformed-body', `malformed protobuf message: ${message}`);
}

function decodeTop(plan: MessagePlan, bytes: Uint8Array, start: number, end: number): unknown {
  const savedBuf = rbuf;
  const savedPos = rpos;
  rbuf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  rpos = start;
  try {
    const object = readMessage(plan, end, 0);
    return plan.wrapper ? object['value'] : object;
  } finally {
    rbuf = savedBuf;
    rpos = savedPos;
  }
}

function readVarint32(end: number): number {
  // Field tags and lengths: at most 5 bytes, below 2^32.
  let b = rbuf[rpos++]!;
  if (b < 128) return b;
  let value = b & 127;
  b = rbuf[rpos++]!;
  value |= (b & 127) << 7;
  if (b < 128) return value;
  b = rbuf[rpos++]!;
  value |= (b & 127) << 14;
  if (b < 128) return value;
  b = rbuf[rpos++]!;
  value |= (b & 127) << 21;
  if (b < 128) return value;
  b = rbuf[rpos++]!;
  value = (value | ((b & 15) << 28)) >>> 0;
  if (b < 128 && rpos <= end) return value;
  throw malformed('varint too long or truncated');
}

function readInt64(end: number): number {
  let b = rbuf[rpos++]!;
  if (b < 128) return b;
  let lo = b & 127;
  let shift = 7;
  for (; shift < 28; shift += 7) {
    b = rbuf[rpos++]!;
    lo |= (b & 127) << shift;
    if (b < 128) {
      if (rpos > end) throw malformed('truncated varint');
      return lo;
    }
  }
  b = rbuf[rpos++]!;
  lo = (lo | ((b & 15) << 28)) >>> 0;
  let hi = (b & 127) >> 4;
  if (b >= 128) {
    for (shift = 3; shift <= 31; shift += 7) {
      b = rbuf[rpos++]!;
      hi |= (b & 127) << shift;
      if (b < 128) break;
    }
    if (b >= 128) throw malformed('varint longer than 10 bytes');
  }
  if (rpos > end) throw malformed('truncated varint');
  hi >>>= 0;
  if (hi >>> 31 !== 0) {
    // Two's complement of a negative int64.
    lo = (~lo + 1) >>> 0;
    hi = ~hi >>> 0;
    if (lo === 0) hi = (hi + 1) >>> 0;
    return -(lo + hi * 4294967296);
  }
  return lo + hi * 4294967296;
}

function readLength(end: number): number {
  const length = readVarint32(end);
  if (rpos + length > end) throw malformed('length-delimited field past the end of its message');
  return length;
}

function readString(end: number): string {
  const length = readLength(end);
  const start = rpos;
  rpos += length;
  if (length < 16) {
    let s = '';
    for (let i = start; i < rpos; i++) {
      const c = rbuf[i]!;
      if (c >= 128) return rbuf.toString('utf8', start, rpos);
      s += String.fromCharCode(c);
    }
    return s;
  }
  return rbuf.toString('utf8', start, rpos);
}

function readJson(end: number): unknown {
  const length = readLength(end);
  const start = rpos;
  rpos += length;
  return parseJsonBody(rbuf.subarray(start, rpos));
}

function readDouble(end: number): number {
  if (rpos + 8 > end) throw malformed('truncated double');
  const value = rbuf.readDoubleLE(rpos);
  rpos += 8;
  return value;
}

function skip(wireType: number, end: number): void {
  switch (wireType) {
    case WIRE_VARINT:
      while (rpos < end && rbuf[rpos++]! >= 128);
      return;
    case WIRE_I64:
      rpos += 8;
      break;
    case WIRE_LEN:
      rpos += readLength(end);
      return;
    case WIRE_I32:
      rpos += 4;
      break;
    default:
      throw malformed(`unsupported wire type ${wireType}`);
  }
  if (rpos > end) throw malformed('truncated field');
}

function setKey(object: Record<string, unknown>, field: FieldPlan | string, value: unknown): void {
  const key = typeof field === 'string' ? field : field.key;
  if (key === '__proto__') Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  else object[key] = value;
}

function readMessage(plan: MessagePlan, end: number, depth: number): Record<string, unknown> {
  if (depth > MAX_DEPTH) throw malformed(`nesting deeper than ${MAX_DEPTH}`);
  const object: Record<string, unknown> = {};
  const byNumber = plan.byNumber;
  while (rpos < end) {
    const tag = readVarint32(end);
    const number = tag >>> 3;
    const wireType = tag & 7;
    const field = byNumber[number];
    if (field === undefined || number === 0) {
      skip(wireType, end);
      continue;
    }
    if (field.repeated) readRepeated(field, wireType, object, end, depth);
    else {
      if (wireType !== (field.tag & 7)) throw malformed(`field ${number} of ${plan.name} has wire type ${wireType}`);
      const value = readValue(field, field.kind, end, depth);
      if (field.kind === K_MAP) mergeEntry(object, field, value as [string, unknown]);
      else if (field.unsafeKey) setKey(object, field, value);
      else object[field.key] = value;
    }
  }
  if (rpos > end) throw malformed('field past the end of its message');
  const defaulted = plan.defaulted;
  for (let i = 0; i < defaulted.length; i++) {
    const field = defaulted[i]!;
    if (object[field.key] !== undefined && !(field.unsafeKey && !Object.hasOwn(object, field.key))) continue;
    setKey(object, field, defaultOf(field, depth));
  }
  return object;
}

function defaultOf(field: FieldPlan, depth: number): unknown {
  if (field.presence === P_NULLABLE) return null;
  if (field.repeated) return [];
  switch (field.kind) {
    case K_STRING:
      return '';
    case K_INT64:
    case K_DOUBLE:
      return 0;
    case K_BOOL:
      return false;
    case K_MAP:
      return {};
    case K_MESSAGE:
      // A standard encoder writes a set message even when empty; absent means "not set": decode its defaults.
      return readEmpty(nestedPlan(field), depth);
    default:
      return null;
  }
}

function readEmpty(plan: MessagePlan, depth: number): Record<string, unknown> {
  const saved = rpos;
  const object = readMessage(plan, rpos, depth + 1);
  rpos = saved;
  return object;
}

function mergeEntry(object: Record<string, unknown>, field: FieldPlan, entry: [string, unknown]): void {
  let map = object[field.key] as Record<string, unknown> | undefined;
  if (map === undefined || (field.unsafeKey && !Object.hasOwn(object, field.key))) {
    map = {};
    setKey(object, field, map);
  }
  setKey(map, entry[0], entry[1]);
}

function readRepeated(field: FieldPlan, wireType: number, object: Record<string, unknown>, end: number, depth: number): void {
  let list = (field.unsafeKey ? (Object.hasOwn(object, field.key) ? object[field.key] : undefined) : object[field.key]) as unknown[] | undefined;
  if (list === undefined) {
    list = [];
    setKey(object, field, list);
  }
  const kind = field.kind;
  const scalarWire = kind === K_DOUBLE ? WIRE_I64 : WIRE_VARINT;
  if ((kind === K_INT64 || kind === K_DOUBLE || kind === K_BOOL) && wireType === WIRE_LEN) {
    const length = readLength(end);
    const stop = rpos + length;
    while (rpos < stop) list.push(readValue(field, kind, stop, depth));
    if (rpos !== stop) throw malformed('packed field past its length');
    return;
  }
  const expected = kind === K_INT64 || kind === K_BOOL || kind === K_DOUBLE ? scalarWire : WIRE_LEN;
  if (wireType !== expected) throw malformed(`field ${field.number} has wire type ${wireType}`);
  list.push(readValue(field, kind, end, depth));
}

function readValue(field: FieldPlan, kind: number, end: number, depth: number): unknown {
  switch (kind) {
    case K_STRING:
      return readString(end);
    case K_INT64:
      return readInt64(end);
    case K_DOUBLE:
      return readDouble(end);
    case K_BOOL:
      return readInt64(end) !== 0;
    case K_JSON:
      return readJson(end);
    case K_MESSAGE: {
      const length = readLength(end);
      const stop = rpos + length;
      const value = readMessage(nestedPlan(field), stop, depth + 1);
      rpos = stop;
      return value;
    }
    case K_MAP: {
      const length = readLength(end);
      const stop = rpos + length;
      const valuePlan = field.mapValue!;
      let key = '';
      let value: unknown = undefined;
      let seen = false;
      while (rpos < stop) {
        const tag = readVarint32(stop);
        if (tag === 0x0a) key = readString(stop);
        else if (tag === valuePlan.tag) {
          value = readValue(valuePlan, valuePlan.kind, stop, depth + 1);
          seen = true;
        } else skip(tag & 7, stop);
      }
      rpos = stop;
      return [key, seen ? value : defaultOf(valuePlan, depth)];
    }
    default:
      throw malformed(`unknown kind ${kind}`);
  }
}
