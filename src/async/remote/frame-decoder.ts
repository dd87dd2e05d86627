/**
 * Cuts a byte stream into frames (`protocol.ts`) and reads their fields. Frames are handed out as a cursor
 * over the received chunk, without copying; a frame split across chunks is joined into a fresh Buffer.
 * Received Buffers are never reused, so a decoded view (a publish body passed to the broker) stays valid.
 */
import { MAX_FRAME_BYTES } from './protocol.js';
import { getU16BE, getU32BE } from '../../core/byte-order.js';
import { setOwn } from '../../core/own-record.js';

/** Reads the fields of one frame, in order. Throws `RangeError` when a field runs past the frame. */
export class Cursor {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;
  end = 0;

  reset(buf: Buffer, pos: number, end: number): this {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    return this;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    const v = getU16BE(this.buf, this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = getU32BE(this.buf, this.pos);
    this.pos += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  str(): string {
    const n = this.u32();
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  /** A view of the next `bytes` field (no copy). */
  view(): Buffer {
    const n = this.u32();
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  headers(): Record<string, string> {
    const count = this.u16();
    const out: Record<string, string> = {};
    for (let i = 0; i < count; i++) {
      const name = this.str();
      setOwn(out, name, this.str());
    }
    return out;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new RangeError('frame truncated');
  }
}

export type FrameHandler = (type: number, cursor: Cursor) => void;

export class FrameDecoder {
  /** Bytes of an incomplete frame, kept as received until the whole frame is there (joined once). */
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** Size of the incomplete frame including its length prefix, once the prefix has arrived. */
  private wanted = 0;
  private readonly cursor = new Cursor();

  constructor(private readonly onFrame: FrameHandler) {}

  /** Feed received bytes; calls the handler once per complete frame. Throws on an invalid frame length. */
  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.partBytes > 0) {
      this.parts.push(chunk);
      this.partBytes += chunk.length;
      if (this.wanted === 0 && this.partBytes >= 4) this.wanted = 4 + lengthAt(Buffer.concat(this.parts, 4), 0);
      if (this.wanted === 0 || this.partBytes < this.wanted) return;
      buf = Buffer.concat(this.parts, this.partBytes);
      this.parts = [];
      this.partBytes = 0;
      this.wanted = 0;
    }
    let pos = 0;
    while (buf.length - pos >= 4) {
      const length = lengthAt(buf, pos);
      if (buf.length - pos - 4 < length) {
        this.wanted = 4 + length;
        break;
      }
      const end = pos + 4 + length;
      this.onFrame(buf[pos + 4]!, this.cursor.reset(buf, pos + 5, end));
      pos = end;
    }
    if (pos < buf.length) {
      this.parts.push(buf.subarray(pos));
      this.partBytes = buf.length - pos;
    }
  }
}

/** The frame length at `pos` (the caller checked that 4 bytes are there). */
function lengthAt(buf: Buffer, pos: number): number {
  const length = getU32BE(buf, pos);
  if (length < 1 || length > MAX_FRAME_BYTES) throw new RangeError(`invalid frame length ${length}`);
  return length;
}
