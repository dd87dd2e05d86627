/**
 * The on-disk encoding of a batch row: many messages of one topic in one BLOB, so that storing and reading a
 * message costs a share of one SQLite row instead of a row each (measured on this machine: ~2× cheaper to
 * write and ~2.5× cheaper to read than a row per message; see the broker's doc comment).
 *
 * Layout, little-endian, one entry per message, entries back to back in sequence order:
 * ```
 * u32  entry length in bytes (everything after this field), so a reader can skip an entry without parsing it
 * u8   flags: 1 = has key, 2 = has not-before time
 * [f64 not-before, epoch ms]                           if flags & 2
 * u16  header count
 * u16  id length                                       (lengths of strings in UTF-16 code units)
 * [u16 key length]                                     if flags & 1
 * per header: u16 name length, u32 value length
 * u32  text length in bytes, then the text: id, key, and each header's name and value, concatenated, UTF-8
 * u32  body length, then the body bytes
 * ```
 * All strings of a message travel as one UTF-8 text, encoded by one call and decoded by one call and then
 * sliced by the stored lengths (UTF-16 lengths survive a UTF-8 round trip). Seven separate string writes per
 * message cost ~3× more here; headers as JSON cost more still.
 * The sequence of entry `i` is the row's `first_seq + i`; the publish time is the row's `published_at`.
 */
import { getU16LE, getU32LE, putU16LE, putU32LE } from '../../core/byte-order.js';
import { setOwn } from '../../core/own-record.js';
import type { StoredEntry } from '../encoded-entry.js';

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
 * Check that headers are strings (names ≤ 65535 characters, at most 65535 of them) and measure them for the
 * encoder. Throws `TypeError`/`RangeError`; called at publish, so a bad message fails alone, not its batch.
 */
export function measureHeaders(headers: Readonly<Record<string, string>>): { count: number; chars: number } {
  let count = 0;
  let chars = 0;
  for (const name in headers) {
    const value = headers[name];
    if (typeof value !== 'string') throw new TypeError(`header ${name} must be a string`);
    if (name.length > MAX_SHORT_STRING) throw new RangeError(`header name longer than ${MAX_SHORT_STRING} characters`);
    count++;
    chars += name.length + value.length;
  }
  if (count > MAX_SHORT_STRING) throw new RangeError(`more than ${MAX_SHORT_STRING} headers`);
  return count === 0 ? NO_HEADERS : { count, chars };
}

/** What `measureHeaders` returns for no headers (most messages): one object, not one per publish. */
const NO_HEADERS: { readonly count: number; readonly chars: number } = Object.freeze({ count: 0, chars: 0 });

const FLAG_KEY = 1;
const FLAG_NOT_BEFORE = 2;
const MAX_SHORT_STRING = 0xffff;

/** Upper bound of the encoded size of one message (exact for ASCII, safe for any UTF-8). */
export function encodedSizeBound(m: EncodableMessage): number {
  const chars = m.id.length + (m.key === undefined ? 0 : m.key.length) + m.headerChars;
  return 4 + 1 + 8 + 2 + 2 + 2 + m.headerCount * 6 + 4 + chars * 3 + 4 + m.body.byteLength;
}

/**
 * The bytes of one batch row, appended message by message. The writer encodes each message into its row
 * when it is published (not when the row commits), so a publish keeps no copy of the body or headers and
 * the caller may reuse its buffers as soon as `publish` returns. Grows by doubling from `initialBytes`.
 */
export class BatchEncoder {
  private buf: Buffer;
  private offset = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafeSlow(Math.max(64, initialBytes));
  }

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
    const key = m.key;
    const hasNotBefore = m.notBefore > 0;
    // `ensure` made room for the bound, so the unchecked writes below stay inside the buffer.
    buf[o++] = (key !== undefined ? FLAG_KEY : 0) | (hasNotBefore ? FLAG_NOT_BEFORE : 0);
    if (hasNotBefore) o = buf.writeDoubleLE(m.notBefore, o);
    putU16LE(buf, o, m.headerCount);
    putU16LE(buf, o + 2, checkShort(m.id.length, 'id'));
    o += 4;
    let text = m.id;
    if (key !== undefined) {
      putU16LE(buf, o, checkShort(key.length, 'key'));
      o += 2;
      text += key;
    }
    const headers = m.headers;
    // Enumerating even an empty object costs more than the rest of a small message's header: skip it.
    if (m.headerCount > 0) for (const name in headers) {
      const value = headers[name]!;
      putU16LE(buf, o, checkShort(name.length, 'header name'));
      putU32LE(buf, o + 2, value.length);
      o += 6;
      text += name;
      text += value;
    }
    const textBytes = buf.write(text, o + 4, 'utf8');
    putU32LE(buf, o, textBytes);
    o += 4 + textBytes;
    const body = m.body;
    putU32LE(buf, o, body.byteLength);
    o += 4;
    buf.set(body, o);
    o += body.byteLength;
    putU32LE(buf, start, o - start - 4);
    this.offset = o;
  }

  /** The encoded bytes so far. A view of the encoder's buffer: valid until the next `reset`/`append`. */
  view(): Buffer {
    return this.buf.subarray(0, this.offset);
  }

  /**
   * The encoded bytes, to keep after the encoder is done with (messages held in memory read them): a view
   * when the buffer is mostly filled, else an exact copy, so that a row of a few messages does not pin a
   * buffer sized for hundreds. The encoder must not be appended to afterwards.
   */
  finish(): Buffer {
    return this.offset >= this.buf.length * 0.75 ? this.view() : Buffer.from(this.view());
  }

  private ensure(extra: number): void {
    if (this.offset + extra <= this.buf.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.offset + extra));
    this.buf.copy(next, 0, 0, this.offset);
    this.buf = next;
  }
}

function checkShort(length: number, what: string): number {
  if (length > MAX_SHORT_STRING) throw new RangeError(`message ${what} longer than ${MAX_SHORT_STRING} characters`);
  return length;
}

/** Byte offsets of each entry in a batch row, for random access by sequence. */
export function entryOffsets(data: Uint8Array, count: number): number[] {
  const view = asBuffer(data);
  const offsets: number[] = new Array<number>(count);
  let o = 0;
  for (let i = 0; i < count; i++) {
    offsets[i] = o;
    o += 4 + getU32LE(view, o);
  }
  return offsets;
}

/** Byte offset of entry `index` (skips the entries before it without parsing them). */
export function offsetOfEntry(data: Uint8Array, index: number): number {
  const view = asBuffer(data);
  let o = 0;
  for (let i = 0; i < index; i++) o += 4 + getU32LE(view, o);
  return o;
}

/** What an entry decodes to besides its sequence, publish time and not-before time. */
export interface EntryFields {
  readonly id: string;
  readonly key: string | undefined;
  readonly headers: Record<string, string>;
  readonly body: Uint8Array;
}

/**
 * A message read back from the log. Its id, headers and body are decoded from its entry's bytes (`entry`:
 * from the flags byte to the end of the body, the layout above without the leading length) only when first
 * read. A message on its way to a remote consumer travels as those bytes (protocol 2's DELIVER_ENTRY,
 * `remote/protocol.ts`) and is never decoded in the owning process: that, and not allocating five objects
 * per message read, is why. The key is decoded at once: the group needs it to keep per-key order.
 *
 * Read in order, a message keeps the batch row it came from and its byte range there (no copy and no
 * Buffer object per message); a message that is going to stay in memory for a while (held behind its key,
 * waiting for a delay, nacked, restored) is `detach`ed, copying its bytes out, so that it does not keep a
 * whole row alive. A body handed to a consumer is always a copy, never a view of a row.
 */
export class LoggedMessage implements StoredMessage, StoredEntry {
  /** The entry is `bytes[start, end)`: a range of its row, or all of its own copy once detached. */
  bytes: Buffer;
  start: number;
  end: number;
  private owned: boolean;

  constructor(
    readonly seq: number,
    readonly publishedAt: number,
    readonly notBefore: number,
    readonly key: string | undefined,
    bytes: Buffer,
    start: number,
    end: number,
    owned: boolean,
    private fields: EntryFields | undefined,
  ) {
    this.bytes = bytes;
    this.start = start;
    this.end = end;
    this.owned = owned;
  }

  /** The entry's bytes (a view of its row until `detach`). */
  get entry(): Buffer {
    return this.bytes.subarray(this.start, this.end);
  }

  get id(): string {
    return this.decoded().id;
  }

  get headers(): Readonly<Record<string, string>> {
    return this.decoded().headers;
  }

  get body(): Uint8Array {
    return this.decoded().body;
  }

  /** Own a copy of the entry's bytes from now on (the row it was read from may then be collected). */
  detach(): void {
    if (this.owned) return;
    this.bytes = Buffer.from(this.bytes.subarray(this.start, this.end));
    this.start = 0;
    this.end = this.bytes.byteLength;
    this.owned = true;
  }

  private decoded(): EntryFields {
    return (this.fields ??= parseEntry(this.bytes, this.start, this.end, !this.owned));
  }
}

/**
 * Decode the entry at byte `offset` of a row. With `own`, the message gets its own copy of the entry's
 * bytes; without, a view of the row (see `LoggedMessage` for when each is right).
 */
export function decodeEntry(
  data: Uint8Array,
  offset: number,
  seq: number,
  publishedAt: number,
  own = true,
): { message: LoggedMessage; next: number } {
  const row = asBuffer(data);
  const length = getU32LE(row, offset);
  const next = offset + 4 + length;
  if (length === 0 || next > row.byteLength) throw new RangeError(`entry at byte ${offset} runs past its row`);
  // Without `own`, the message keeps the row and its range: no Buffer object per message.
  const bytes = own ? Buffer.from(row.subarray(offset + 4, next)) : row;
  const start = own ? 0 : offset + 4;
  const end = start + length;
  const flags = bytes[start]!;
  const notBefore = flags & FLAG_NOT_BEFORE ? bytes.readDoubleLE(start + 1) : 0;
  const fields = flags & FLAG_KEY ? parseEntry(bytes, start, end, !own) : undefined;
  return { message: new LoggedMessage(seq, publishedAt, notBefore, fields?.key, bytes, start, end, own, fields), next };
}

/** The messages of rows just committed, in order, as views of the rows' bytes (see `LoggedMessage`). */
export function committedMessages(rows: readonly { first_seq: number; count: number; published_at: number; data: Buffer }[]): LoggedMessage[] {
  const messages: LoggedMessage[] = [];
  for (const row of rows) {
    let offset = 0;
    for (let i = 0; i < row.count; i++) {
      const { message, next } = decodeEntry(row.data, offset, row.first_seq + i, row.published_at, false);
      messages.push(message);
      offset = next;
    }
  }
  return messages;
}

/**
 * Read the fields of the entry in `buf[start, end)` (from its flags byte on). The body is a view of `buf`,
 * or a copy with `copyBody` (when `buf` is a received chunk the consumer must not pin). Throws `RangeError`
 * on an entry that runs past `end`.
 */
export function parseEntry(buf: Buffer, start: number, end: number, copyBody: boolean): EntryFields {
  let o = start;
  const flags = buf[o++]!;
  if (flags & FLAG_NOT_BEFORE) o += 8;
  if (o + 4 > end) throw new RangeError('entry lengths run past the entry');
  const headerCount = getU16LE(buf, o);
  const idLength = getU16LE(buf, o + 2);
  o += 4;
  let keyLength = -1;
  if (flags & FLAG_KEY) {
    keyLength = getU16LE(buf, o);
    o += 2;
  }
  const lengthsAt = o;
  o += headerCount * 6;
  // Every length and the body length's own field are inside the entry (the reads below are unchecked).
  if (o + 4 > end) throw new RangeError('entry lengths run past the entry');
  const textBytes = getU32LE(buf, o);
  if (o + 4 + textBytes > end) throw new RangeError('entry text runs past the entry');
  const text = buf.toString('utf8', o + 4, o + 4 + textBytes);
  o += 4 + textBytes;
  const id = text.slice(0, idLength);
  let t = idLength;
  let key: string | undefined;
  if (keyLength >= 0) {
    key = text.slice(t, t + keyLength);
    t += keyLength;
  }
  const headers: Record<string, string> = {};
  for (let i = 0, l = lengthsAt; i < headerCount; i++, l += 6) {
    const nameLength = getU16LE(buf, l);
    const valueLength = getU32LE(buf, l + 2);
    const name = text.slice(t, t + nameLength);
    const value = text.slice(t + nameLength, t + nameLength + valueLength);
    t += nameLength + valueLength;
    setOwn(headers, name, value);
  }
  if (o + 4 > end) throw new RangeError('entry body length runs past the entry');
  const bodyLength = getU32LE(buf, o);
  o += 4;
  if (o + bodyLength > end) throw new RangeError('entry body runs past the entry');
  let body: Uint8Array;
  if (copyBody) {
    const copy = Buffer.allocUnsafe(bodyLength);
    buf.copy(copy, 0, o, o + bodyLength);
    body = copy;
  } else {
    body = buf.subarray(o, o + bodyLength);
  }
  return { id, key, headers, body };
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
