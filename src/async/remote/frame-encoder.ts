/**
 * Writes frames (`protocol.ts`) into slabs of memory and hands out what was written as Buffers to put on a
 * socket. Why slabs: allocating a Buffer per frame (or per message) costs more than encoding a 256-byte
 * message; here many frames share one allocation, and bytes once handed out are never overwritten, so a
 * caller may keep a view of an encoded frame (to resend it after a reconnect) without copying it.
 */
import { putU16BE, putU32BE } from '../../core/byte-order.js';

const SLAB_BYTES = 64 * 1024;

export class FrameEncoder {
  private buf: Buffer = Buffer.allocUnsafe(SLAB_BYTES);
  /** Start of the bytes not yet handed out by `take`. */
  private start = 0;
  private pos = 0;
  private frameStart = -1;

  /** Bytes written and not yet taken. */
  get pendingBytes(): number {
    return this.pos - this.start;
  }

  begin(type: number): void {
    this.ensure(5);
    this.frameStart = this.pos;
    this.pos += 4;
    this.buf[this.pos++] = type;
  }

  /** Close the frame opened by `begin`. */
  end(): void {
    putU32BE(this.buf, this.frameStart, this.pos - this.frameStart - 4);
    this.frameStart = -1;
  }

  /**
   * Close the frame opened by `begin` and return a view of it (valid for as long as the caller holds it),
   * for a frame kept to be sent again. `end` makes no view: a Buffer object per delivered message was a
   * twentieth of the owning process's allocations in the broker benchmark.
   */
  endWithView(): Buffer {
    const start = this.frameStart;
    this.end();
    return this.buf.subarray(start, this.pos);
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  /** Writes the low 16 bits of `v` (callers pass values that fit). */
  u16(v: number): void {
    this.ensure(2);
    putU16BE(this.buf, this.pos, v);
    this.pos += 2;
  }

  /** Writes `v` as an unsigned 32-bit integer (its low 32 bits). */
  u32(v: number): void {
    this.ensure(4);
    putU32BE(this.buf, this.pos, v >>> 0);
    this.pos += 4;
  }

  f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }

  str(s: string): void {
    this.ensure(4 + s.length * 3); // UTF-8 takes at most 3 bytes per UTF-16 code unit
    const n = this.buf.write(s, this.pos + 4, 'utf8');
    putU32BE(this.buf, this.pos, n);
    this.pos += 4 + n;
  }

  bytes(b: Uint8Array): void {
    this.bytesRange(b, 0, b.byteLength);
  }

  /** A `bytes` field holding `b[start, end)`, without making a view of it first. */
  bytesRange(b: Uint8Array, start: number, end: number): void {
    const n = end - start;
    this.ensure(4 + n);
    putU32BE(this.buf, this.pos, n);
    if (Buffer.isBuffer(b)) b.copy(this.buf, this.pos + 4, start, end);
    else this.buf.set(start === 0 && end === b.byteLength ? b : b.subarray(start, end), this.pos + 4);
    this.pos += 4 + n;
  }

  headers(h: Readonly<Record<string, string>>): void {
    const names = Object.keys(h);
    if (names.length > 0xffff) throw new RangeError('more than 65535 headers');
    this.u16(names.length);
    for (const name of names) {
      const value = h[name];
      if (typeof value !== 'string') throw new TypeError(`header ${name} must be a string`);
      this.str(name);
      this.str(value);
    }
  }

  /** Copy an already encoded frame (e.g. one kept for resending). */
  raw(frame: Uint8Array): void {
    this.ensure(frame.byteLength);
    this.buf.set(frame, this.pos);
    this.pos += frame.byteLength;
  }

  /** Drop a frame opened by `begin` whose encoding failed. */
  abort(): void {
    if (this.frameStart >= 0) this.pos = this.frameStart;
    this.frameStart = -1;
  }

  /** Hand out everything written since the last `take` (complete frames only). */
  take(): Buffer | undefined {
    if (this.frameStart >= 0) throw new Error('FrameEncoder.take inside a frame');
    if (this.pos === this.start) return undefined;
    const out = this.buf.subarray(this.start, this.pos);
    this.start = this.pos;
    if (this.buf.length - this.pos < 1024) this.fresh(0);
    return out;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.fresh(n);
  }

  /** Move the untaken bytes to a new slab with room for `n` more; the old slab stays intact for its views. */
  private fresh(n: number): void {
    const carried = this.pos - this.start;
    const next = Buffer.allocUnsafe(Math.max(SLAB_BYTES, (carried + n) * 2));
    this.buf.copy(next, 0, this.start, this.pos);
    if (this.frameStart >= 0) this.frameStart -= this.start;
    this.buf = next;
    this.start = 0;
    this.pos = carried;
  }
}
