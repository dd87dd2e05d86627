/**
 * The on-disk encoding of a batch row: many messages of one topic in one BLOB, so that storing and reading a
 * message costs a share of one SQLite row instead of a row each (measured on this machine: ~2× cheaper to
 * write and ~2.5× cheaper to read than a row per message; see the broker's doc comment).
 *
 * Layout, little-endian, one entry per message, entries back to back in sequence order:
 * ```
 * u32  entry length in bytes (everything after this field), so a reader can skip an entry without parsing it
 * u8   flags: 1 = has key, 2 = has not-before time
 * u16  id length, then the id (UTF-8)
 * [u16 key length, then the key (UTF-8)]        if flags & 1
 * [f64 not-before, epoch ms]                     if flags & 2
 * u16  header count, then per header: u16 name length, name (UTF-8), u32 value length, value (UTF-8)
 * u32  body length, then the body bytes
 * ```
 * The sequence of entry `i` is the row's `first_seq + i`; the publish time is the row's `published_at`.
 */

/** A message as the log stores it: immutable, shared by every group that reads it from memory. */
export interface StoredMessage {
  readonly seq: number;
  readonly id: string;
  readonly key: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  readonly publishedAt: number;
  /** Not to be delivered before this epoch ms (0: no delay). */
  readonly notBefore: number;
}

/** The parts of a message the encoder needs (a pending publish). */
export interface EncodableMessage {
  readonly id: string;
  readonly key: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  /** Total UTF-16 length of header names and values (see `headerChars`). */
  readonly headerChars: number;
  readonly headerCount: number;
  readonly body: Uint8Array;
  readonly notBefore: number;
}

/**
 * Check that headers are strings (names ≤ 65535 bytes, at most 65535 of them) and measure them for the
 * encoder. Throws `TypeError`/`RangeError`; called at publish, so a bad message fails alone, not its batch.
 */
export function measureHeaders(headers: Readonly<Record<string, string>>): { count: number; chars: number } {
  let count = 0;
  let chars = 0;
  for (const name in headers) {
    const value = headers[name];
    if (typeof value !== 'string') throw new TypeError(`header ${name} must be a string`);
    if (name.length > MAX_SHORT_STRING / 3 && Buffer.byteLength(name) > MAX_SHORT_STRING) throw new RangeError(`header name longer than ${MAX_SHORT_STRING} bytes`);
    count++;
    chars += name.length + value.length;
  }
  if (count > MAX_SHORT_STRING) throw new RangeError(`more than ${MAX_SHORT_STRING} headers`);
  return { count, chars };
}

const FLAG_KEY = 1;
const FLAG_NOT_BEFORE = 2;
const MAX_SHORT_STRING = 0xffff;

/** Upper bound of the encoded size of one message (exact for ASCII, safe for any UTF-8). */
export function encodedSizeBound(m: EncodableMessage): number {
  return 4 + 1 + 2 + m.id.length * 3 + (m.key === undefined ? 0 : 2 + m.key.length * 3) + 8 + 2 + m.headerCount * 6 + m.headerChars * 3 + 4 + m.body.byteLength;
}

/** Reusable scratch space for encoding batches; grows to the largest batch seen. */
export class BatchEncoder {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private offset = 0;

  reset(): void {
    this.offset = 0;
  }

  get size(): number {
    return this.offset;
  }

  append(m: EncodableMessage): void {
    this.ensure(encodedSizeBound(m));
    const buf = this.buf;
    const start = this.offset;
    let o = start + 4;
    const hasKey = m.key !== undefined;
    const hasNotBefore = m.notBefore > 0;
    buf[o++] = (hasKey ? FLAG_KEY : 0) | (hasNotBefore ? FLAG_NOT_BEFORE : 0);
    o = writeShortString(buf, o, m.id, 'id');
    if (hasKey) o = writeShortString(buf, o, m.key, 'key');
    if (hasNotBefore) o = buf.writeDoubleLE(m.notBefore, o);
    buf.writeUInt16LE(m.headerCount, o);
    o += 2;
    const headers = m.headers;
    for (const name in headers) {
      o = writeShortString(buf, o, name, 'header name');
      const n = buf.write(headers[name]!, o + 4, 'utf8');
      buf.writeUInt32LE(n, o);
      o += 4 + n;
    }
    buf.writeUInt32LE(m.body.byteLength, o);
    o += 4;
    buf.set(m.body, o);
    o += m.body.byteLength;
    buf.writeUInt32LE(o - start - 4, start);
    this.offset = o;
  }

  /** The encoded bytes so far. A view of the scratch buffer: valid until the next `reset`/`append`. */
  view(): Buffer {
    return this.buf.subarray(0, this.offset);
  }

  private ensure(extra: number): void {
    if (this.offset + extra <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.offset + extra));
    this.buf.copy(next, 0, 0, this.offset);
    this.buf = next;
  }
}

function writeShortString(buf: Buffer, o: number, s: string, what: string): number {
  const n = buf.write(s, o + 2, 'utf8');
  if (n > MAX_SHORT_STRING) throw new RangeError(`message ${what} longer than ${MAX_SHORT_STRING} bytes`);
  buf.writeUInt16LE(n, o);
  return o + 2 + n;
}

/** Byte offsets of each entry in a batch row, for random access by sequence. */
export function entryOffsets(data: Uint8Array, count: number): number[] {
  const view = asBuffer(data);
  const offsets: number[] = new Array<number>(count);
  let o = 0;
  for (let i = 0; i < count; i++) {
    offsets[i] = o;
    o += 4 + view.readUInt32LE(o);
  }
  return offsets;
}

/** Byte offset of entry `index` (skips the entries before it without parsing them). */
export function offsetOfEntry(data: Uint8Array, index: number): number {
  const view = asBuffer(data);
  let o = 0;
  for (let i = 0; i < index; i++) o += 4 + view.readUInt32LE(o);
  return o;
}

/**
 * Decode the entry at byte `offset`. The id, key, headers and body are copied out of `data`, so a delivered
 * message never keeps a whole batch row alive.
 */
export function decodeEntry(data: Uint8Array, offset: number, seq: number, publishedAt: number): { message: StoredMessage; next: number } {
  const buf = asBuffer(data);
  const next = offset + 4 + buf.readUInt32LE(offset);
  let o = offset + 4;
  const flags = buf[o++]!;
  const idLength = buf.readUInt16LE(o);
  const id = buf.toString('utf8', o + 2, o + 2 + idLength);
  o += 2 + idLength;
  let key: string | undefined;
  if (flags & FLAG_KEY) {
    const keyLength = buf.readUInt16LE(o);
    key = buf.toString('utf8', o + 2, o + 2 + keyLength);
    o += 2 + keyLength;
  }
  let notBefore = 0;
  if (flags & FLAG_NOT_BEFORE) {
    notBefore = buf.readDoubleLE(o);
    o += 8;
  }
  const headerCount = buf.readUInt16LE(o);
  o += 2;
  const headers: Record<string, string> = {};
  for (let i = 0; i < headerCount; i++) {
    const nameLength = buf.readUInt16LE(o);
    const name = buf.toString('utf8', o + 2, o + 2 + nameLength);
    o += 2 + nameLength;
    const valueLength = buf.readUInt32LE(o);
    const value = buf.toString('utf8', o + 4, o + 4 + valueLength);
    if (name === '__proto__') Object.defineProperty(headers, name, { value, enumerable: true, writable: true, configurable: true });
    else headers[name] = value;
    o += 4 + valueLength;
  }
  const bodyLength = buf.readUInt32LE(o);
  o += 4;
  const body = Buffer.allocUnsafe(bodyLength);
  buf.copy(body, 0, o, o + bodyLength);
  return { message: { seq, id, key, headers, body, publishedAt, notBefore }, next };
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
