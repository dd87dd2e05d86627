import { HeaderListTooLargeError, HpackError } from './hpack-error.js';
import { STATIC_TABLE } from './hpack-tables.js';
import { huffmanDecode, huffmanEncode, huffmanEncodedLength } from './huffman.js';

export { HeaderListTooLargeError, HpackError } from './hpack-error.js';

/**
 * HPACK (RFC 7541), the header compression of HTTP/2, for Courier's own h2 client.
 *
 * Headers travel as a flat array `[name0, value0, name1, value1, ...]` of latin1 strings (one byte per code
 * unit: header fields are bytes, not text), in wire order, duplicates kept. No object per header, no map: the
 * caller picks out what it needs, and a warm decoder hands out the very strings its dynamic table holds.
 *
 * - `HpackDecoder` keeps the dynamic table the peer's encoder drives. It is one per connection and must see
 *   every header block of the connection, in order: a block that fails to decode leaves it out of step, hence
 *   `HpackError` → COMPRESSION_ERROR for the connection.
 * - `HpackEncoder` never inserts into the dynamic table, so it has no state to keep in step with the peer and
 *   one encoder (or one precomputed block) can serve any number of connections.
 */

/** SETTINGS_HEADER_TABLE_SIZE when nothing else was announced (RFC 7540 §6.5.2). */
export const DEFAULT_HEADER_TABLE_SIZE = 4096;

/** Bytes a dynamic table entry costs beyond its name and value (RFC 7541 §4.1). */
const ENTRY_OVERHEAD = 32;

/** Largest integer accepted in a header block (a length, an index, a table size); more is an attack. */
const MAX_INTEGER = 0x7fffffff;

const STATIC_COUNT = STATIC_TABLE.length;
const STATIC_NAMES = STATIC_TABLE.map(([name]) => name);
const STATIC_VALUES = STATIC_TABLE.map(([, value]) => value);
const EMPTY = Buffer.alloc(0);

export interface HpackDecoderOptions {
  /**
   * Our SETTINGS_HEADER_TABLE_SIZE: the largest dynamic table the peer's encoder may use, and so the bound on
   * the size updates it sends. Default 4096. Below 4096 the peer must shrink its table with a size update at
   * the start of its first block (it starts at 4096, RFC 7540 §6.5.2).
   */
  maxTableSize?: number;
  /**
   * Our SETTINGS_MAX_HEADER_LIST_SIZE: the largest decoded header list, counted as the sum of name + value +
   * 32 bytes per field. A larger block throws `HeaderListTooLargeError` once decoded. Default: no limit.
   */
  maxHeaderListSize?: number;
}

export class HpackDecoder {
  /** Upper bound for size updates: our SETTINGS_HEADER_TABLE_SIZE as the peer has acknowledged it. */
  private limit: number;
  /** The dynamic table's maximum size, as the peer's encoder last set it. */
  private capacity = DEFAULT_HEADER_TABLE_SIZE;
  /** When ≥ 0, the next block must start with a size update no larger than this (the limit was lowered). */
  private requiredUpdate = -1;
  private readonly maxHeaderListSize: number;

  /** The dynamic table, a ring: newest entry at `head`, index 62 + i at `(head + i) & mask`. */
  private names: string[] = new Array<string>(16).fill('');
  private values: string[] = new Array<string>(16).fill('');
  private mask = 15;
  private head = 0;
  private count = 0;
  private used = 0;

  /** The block being decoded and the read position in it. */
  private src: Buffer = EMPTY;
  private pos = 0;

  constructor(options: HpackDecoderOptions = {}) {
    this.limit = checkedSize(options.maxTableSize ?? DEFAULT_HEADER_TABLE_SIZE);
    if (this.capacity > this.limit) this.requiredUpdate = this.limit;
    this.maxHeaderListSize = options.maxHeaderListSize ?? Infinity;
  }

  /**
   * Apply a new SETTINGS_HEADER_TABLE_SIZE of ours, once the peer has acknowledged it (frames before the ACK
   * may still use the old one). If the table is now larger than allowed, the peer's next block must start with
   * a size update to at most the smallest limit set since its last block.
   */
  setMaxTableSize(limit: number): void {
    this.limit = checkedSize(limit);
    if (this.capacity > this.limit && (this.requiredUpdate < 0 || this.limit < this.requiredUpdate)) {
      this.requiredUpdate = this.limit;
    }
  }

  /**
   * Decode one complete header block (HEADERS plus its CONTINUATIONs, padding and priority removed) into
   * `[name0, value0, ...]`. Throws `HpackError` (the connection is then lost: COMPRESSION_ERROR) or, after the
   * whole block was decoded and the table is in step, `HeaderListTooLargeError`.
   */
  decode(block: Uint8Array): string[] {
    const src = Buffer.isBuffer(block)
      ? block
      : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
    const end = src.length;
    this.src = src;
    this.pos = 0;
    // Dynamic table size updates: only before the first field (RFC 7541 §4.2).
    let smallest = Infinity;
    while (this.pos < end && (src[this.pos]! & 0xe0) === 0x20) {
      const size = this.integer(5);
      if (size > this.limit) {
        throw new HpackError(`dynamic table size update to ${size} exceeds the limit of ${this.limit}`);
      }
      if (size < smallest) smallest = size;
      this.resize(size);
    }
    if (this.requiredUpdate >= 0) {
      if (smallest > this.requiredUpdate) {
        throw new HpackError(
          `header block does not start with a dynamic table size update to at most ${this.requiredUpdate}`,
        );
      }
      this.requiredUpdate = -1;
    }
    const out: string[] = [];
    const maxList = this.maxHeaderListSize;
    let listSize = 0;
    while (this.pos < end) {
      const first = src[this.pos]!;
      let name: string;
      let value: string;
      if (first & 0x80) {
        // Indexed header field (§6.1).
        const index = this.integer(7);
        if (index === 0) throw new HpackError('indexed header field with index 0');
        if (index <= STATIC_COUNT) {
          name = STATIC_NAMES[index - 1]!;
          value = STATIC_VALUES[index - 1]!;
        } else {
          const slot = this.slot(index);
          name = this.names[slot]!;
          value = this.values[slot]!;
        }
      } else if (first & 0x40) {
        // Literal with incremental indexing (§6.2.1): the new entry goes into the table.
        const index = this.integer(6);
        name = index === 0 ? this.string() : this.nameAt(index);
        value = this.string();
        this.insert(name, value);
      } else if (first & 0x20) {
        throw new HpackError('dynamic table size update after the first header field');
      } else {
        // Literal without indexing (0000) or never indexed (0001) (§6.2.2, §6.2.3): the same to us, as we
        // forward nothing.
        const index = this.integer(4);
        name = index === 0 ? this.string() : this.nameAt(index);
        value = this.string();
      }
      listSize += ENTRY_OVERHEAD + name.length + value.length;
      // Past the limit, keep decoding (the table must stay in step) but stop collecting.
      if (listSize <= maxList) out.push(name, value);
    }
    this.src = EMPTY;
    if (listSize > maxList) throw new HeaderListTooLargeError(listSize, maxList);
    return out;
  }

  /** Bytes the dynamic table holds (32 + name + value per entry). */
  get tableSize(): number {
    return this.used;
  }

  /** The dynamic table's maximum size, as the peer's encoder set it. */
  get tableCapacity(): number {
    return this.capacity;
  }

  /** The dynamic table, newest first (index 62 first), as `[name, value]` pairs. For tests and debugging. */
  tableEntries(): [name: string, value: string][] {
    const entries: [string, string][] = [];
    for (let i = 0; i < this.count; i++) {
      const slot = (this.head + i) & this.mask;
      entries.push([this.names[slot]!, this.values[slot]!]);
    }
    return entries;
  }

  /** A prefixed integer (§5.1) whose first byte is at `pos`, with an `n`-bit prefix. */
  private integer(n: number): number {
    const src = this.src;
    let pos = this.pos;
    const mask = (1 << n) - 1;
    let value = src[pos++]! & mask;
    if (value === mask) {
      for (let shift = 0; ; shift += 7) {
        if (pos >= src.length) throw new HpackError('header block ends inside an integer');
        const byte = src[pos++]!;
        value += (byte & 0x7f) * 2 ** shift;
        if (value > MAX_INTEGER) throw new HpackError('integer overflow in header block');
        if ((byte & 0x80) === 0) break;
        // A sixth continuation byte cannot keep the value within 31 bits (zero padding included).
        if (shift >= 28) throw new HpackError('integer overflow in header block');
      }
    }
    this.pos = pos;
    return value;
  }

  /** A string literal (§5.2) at `pos`: raw bytes or Huffman coded, as latin1. */
  private string(): string {
    const src = this.src;
    if (this.pos >= src.length) throw new HpackError('header block ends before a string');
    const huffman = src[this.pos]! & 0x80;
    const length = this.integer(7);
    const start = this.pos;
    const end = start + length;
    if (end > src.length) throw new HpackError('string literal runs past the end of the header block');
    this.pos = end;
    if (huffman) return huffmanDecode(src, start, end);
    return length === 0 ? '' : src.toString('latin1', start, end);
  }

  private nameAt(index: number): string {
    return index <= STATIC_COUNT ? STATIC_NAMES[index - 1]! : this.names[this.slot(index)]!;
  }

  /** The ring slot of dynamic table index `index` (62 and up). */
  private slot(index: number): number {
    const i = index - STATIC_COUNT - 1;
    if (i >= this.count)
      throw new HpackError(
        `header index ${index} is beyond the tables (${STATIC_COUNT + this.count} entries)`,
      );
    return (this.head + i) & this.mask;
  }

  /** Add an entry (§4.4): evict from the old end until it fits; one larger than the table just empties it. */
  private insert(name: string, value: string): void {
    const size = ENTRY_OVERHEAD + name.length + value.length;
    if (size > this.capacity) {
      while (this.count > 0) this.evict();
      return;
    }
    while (this.used + size > this.capacity) this.evict();
    if (this.count > this.mask) this.grow();
    this.head = (this.head - 1) & this.mask;
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.count++;
    this.used += size;
  }

  private evict(): void {
    const slot = (this.head + this.count - 1) & this.mask;
    this.used -= ENTRY_OVERHEAD + this.names[slot]!.length + this.values[slot]!.length;
    this.names[slot] = '';
    this.values[slot] = '';
    this.count--;
  }

  private resize(size: number): void {
    this.capacity = size;
    while (this.used > size) this.evict();
  }

  /** Double the ring, re-laid out from slot 0. */
  private grow(): void {
    const length = 2 * (this.mask + 1);
    const names = new Array<string>(length).fill('');
    const values = new Array<string>(length).fill('');
    for (let i = 0; i < this.count; i++) {
      const slot = (this.head + i) & this.mask;
      names[i] = this.names[slot]!;
      values[i] = this.values[slot]!;
    }
    this.names = names;
    this.values = values;
    this.mask = length - 1;
    this.head = 0;
  }
}

function checkedSize(size: number): number {
  if (!Number.isInteger(size) || size < 0 || size > MAX_INTEGER)
    throw new RangeError(`invalid header table size ${size}`);
  return size;
}

export interface HpackEncoderOptions {
  /** Huffman-code a string when that makes it shorter. Default false: raw strings, the cheapest to write. */
  huffman?: boolean;
}

/** A static table name: its first index, and the index of each of its name + value pairs. */
interface StaticName {
  index: number;
  values: Map<string, number>;
}

const STATIC_BY_NAME = new Map<string, StaticName>();
STATIC_TABLE.forEach(([name, value], i) => {
  let entry = STATIC_BY_NAME.get(name);
  if (entry === undefined) STATIC_BY_NAME.set(name, (entry = { index: i + 1, values: new Map() }));
  if (!entry.values.has(value)) entry.values.set(value, i + 1);
});

/**
 * The first byte of every block we start: a dynamic table size update to 0. We never use the table, and saying
 * so up front satisfies a peer that lowered its SETTINGS_HEADER_TABLE_SIZE below 4096, which requires such an
 * update before our next block (RFC 7541 §4.2): without it, nghttp2 fails the connection. One byte per block
 * buys an encoder without state.
 */
const BLOCK_START = 0x20;

/** Per field, at most: first byte and index (1 + 2), and each string's length prefix (1 + 5, twice). */
const FIELD_OVERHEAD = 13;

/**
 * A stateless HPACK encoder. A field whose name and value are a static table entry is sent as its index; a
 * static table name is sent by index with a literal value; anything else as a literal name and value. Literals
 * are "without indexing", so the peer's dynamic table stays empty. Names must already be lowercase and
 * strings latin1 (`TypeError` otherwise); checking them against HTTP's rules is the caller's business.
 *
 * Constant headers (`:method`, `:scheme`, `:path`, `content-type`, `te`) are best encoded once with
 * `encodeStatic` and the per-call fields appended with `encodeInto`.
 */
export class HpackEncoder {
  private readonly huffman: boolean;

  constructor(options: HpackEncoderOptions = {}) {
    this.huffman = options.huffman ?? false;
  }

  /** A complete header block for `flat` (`[name0, value0, ...]`), ready for a HEADERS frame. */
  encode(flat: readonly string[]): Buffer {
    const out = Buffer.allocUnsafe(this.maxEncodedLength(flat));
    return out.subarray(0, this.encodeInto(flat, out, 0, true));
  }

  /**
   * The start of a header block for constant `flat`, computed once and reused for every call: each string
   * Huffman coded where that is shorter, whatever the options. Append the call's own fields with `encodeInto`.
   */
  encodeStatic(flat: readonly string[]): Buffer {
    const out = Buffer.allocUnsafe(this.maxEncodedLength(flat));
    const end = encodeFields(flat, out, writeByte(out, 0, BLOCK_START), true);
    return Buffer.from(out.subarray(0, end));
  }

  /**
   * Write the fields of `flat` into `out` at `offset` and return the offset after them; with `blockStart`, as
   * the start of a block (as `encode` does). `out` must have `maxEncodedLength(flat)` bytes from `offset`
   * (`RangeError` otherwise).
   */
  encodeInto(flat: readonly string[], out: Uint8Array, offset: number, blockStart = false): number {
    if (out.length - offset < this.maxEncodedLength(flat))
      throw new RangeError('header block buffer too small');
    return encodeFields(flat, out, blockStart ? writeByte(out, offset, BLOCK_START) : offset, this.huffman);
  }

  /** An upper bound on the encoded size of `flat`, block start included. */
  maxEncodedLength(flat: readonly string[]): number {
    if (flat.length % 2 !== 0) throw new TypeError('header list must alternate names and values');
    let length = 1;
    for (let i = 0; i < flat.length; i++) length += flat[i]!.length;
    return length + (flat.length / 2) * FIELD_OVERHEAD;
  }
}

function encodeFields(flat: readonly string[], out: Uint8Array, offset: number, huffman: boolean): number {
  let o = offset;
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    const value = flat[i + 1]!;
    const known = STATIC_BY_NAME.get(name);
    if (known !== undefined) {
      const pair = known.values.get(value);
      if (pair !== undefined) {
        o = writeInteger(out, o, 0x80, 7, pair); // indexed field (§6.1)
        continue;
      }
      o = writeInteger(out, o, 0x00, 4, known.index); // literal without indexing, indexed name (§6.2.2)
    } else {
      out[o++] = 0x00; // literal without indexing, new name
      o = writeString(out, o, name, huffman);
    }
    o = writeString(out, o, value, huffman);
  }
  return o;
}

function writeByte(out: Uint8Array, offset: number, byte: number): number {
  out[offset] = byte;
  return offset + 1;
}

/** A prefixed integer (§5.1): `flags` in the bits above the `n`-bit prefix of the first byte. */
function writeInteger(out: Uint8Array, offset: number, flags: number, n: number, value: number): number {
  let o = offset;
  const mask = (1 << n) - 1;
  if (value < mask) {
    out[o++] = flags | value;
    return o;
  }
  out[o++] = flags | mask;
  let rest = value - mask;
  while (rest >= 0x80) {
    out[o++] = (rest & 0x7f) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  out[o++] = rest;
  return o;
}

function writeString(out: Uint8Array, offset: number, s: string, huffman: boolean): number {
  if (huffman) {
    const length = huffmanEncodedLength(s);
    if (length < s.length) return huffmanEncode(s, out, writeInteger(out, offset, 0x80, 7, length));
  }
  let o = writeInteger(out, offset, 0x00, 7, s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff)
      throw new TypeError(`header string has a character above 0xff: ${JSON.stringify(s.slice(0, 64))}`);
    out[o++] = c;
  }
  return o;
}
