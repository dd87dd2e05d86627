/**
 * HTTP/2 framing (RFC 9113 §4, §6): the frame header, the types, flags, settings and error codes Courier's
 * own HTTP/2 client uses, and a parser that cuts a byte stream into frames.
 *
 * Every frame is a 9-byte header (24-bit payload length, 8-bit type, 8-bit flags, 31-bit stream id) and its
 * payload. `FrameParser` hands each payload out as a view of the socket chunk it arrived in (no copy); a
 * frame split across chunks is assembled once. A payload above the size we announced is a FRAME_SIZE_ERROR.
 */
export const FRAME_HEADER_LENGTH = 9;

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

/** Error codes of RST_STREAM and GOAWAY (RFC 9113 §7). */
export const H2Code = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

/** The client connection preface (RFC 9113 §3.4), sent before the first SETTINGS frame. */
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const DEFAULT_WINDOW_SIZE = 65_535;
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
export const MAX_WINDOW_SIZE = 0x7fffffff;

/** A connection error: the peer broke the protocol. The connection sends GOAWAY with `code` and closes. */
export class H2ConnectionError extends Error {
  override readonly name = 'H2ConnectionError';
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** A frame with an empty or small payload, as one buffer. */
export function frame(type: number, flags: number, streamId: number, payload?: Uint8Array): Buffer {
  const length = payload === undefined ? 0 : payload.length;
  const out = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + length);
  writeFrameHeader(out, 0, length, type, flags, streamId);
  if (payload !== undefined) out.set(payload, FRAME_HEADER_LENGTH);
  return out;
}

export function writeFrameHeader(
  out: Buffer,
  offset: number,
  length: number,
  type: number,
  flags: number,
  streamId: number,
): void {
  out[offset] = length >>> 16;
  out[offset + 1] = (length >>> 8) & 0xff;
  out[offset + 2] = length & 0xff;
  out[offset + 3] = type;
  out[offset + 4] = flags;
  out.writeUInt32BE(streamId & MAX_WINDOW_SIZE, offset + 5);
}

export function windowUpdate(streamId: number, increment: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + 4);
  writeFrameHeader(out, 0, 4, FrameType.WINDOW_UPDATE, 0, streamId);
  out.writeUInt32BE(increment, FRAME_HEADER_LENGTH);
  return out;
}

export function rstStream(streamId: number, code: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + 4);
  writeFrameHeader(out, 0, 4, FrameType.RST_STREAM, 0, streamId);
  out.writeUInt32BE(code, FRAME_HEADER_LENGTH);
  return out;
}

export function goaway(lastStreamId: number, code: number, debug = ''): Buffer {
  const text = Buffer.from(debug, 'utf8');
  const out = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + 8 + text.length);
  writeFrameHeader(out, 0, 8 + text.length, FrameType.GOAWAY, 0, 0);
  out.writeUInt32BE(lastStreamId & MAX_WINDOW_SIZE, FRAME_HEADER_LENGTH);
  out.writeUInt32BE(code, FRAME_HEADER_LENGTH + 4);
  text.copy(out, FRAME_HEADER_LENGTH + 8);
  return out;
}

export function settingsFrame(settings: ReadonlyArray<readonly [id: number, value: number]>): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + 6 * settings.length);
  writeFrameHeader(out, 0, 6 * settings.length, FrameType.SETTINGS, 0, 0);
  let at = FRAME_HEADER_LENGTH;
  for (const [id, value] of settings) {
    out.writeUInt16BE(id, at);
    out.writeUInt32BE(value, at + 2);
    at += 6;
  }
  return out;
}

export type FrameHandler = (type: number, flags: number, streamId: number, payload: Buffer) => void;

export class FrameParser {
  private pending: Buffer | undefined;

  constructor(
    /** Our SETTINGS_MAX_FRAME_SIZE: the largest payload the peer may send. */
    private readonly maxFrameSize: number,
    private readonly onFrame: FrameHandler,
    /** Bytes that must come before the first frame (a server expects the client preface). */
    private preface?: Buffer,
  ) {}

  /**
   * Feed bytes from the socket. Throws `H2ConnectionError`: FRAME_SIZE_ERROR on an oversized frame,
   * PROTOCOL_ERROR when the expected preface does not come first.
   */
  push(chunk: Buffer): void {
    let data = chunk;
    if (this.pending !== undefined) {
      data = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let at = 0;
    if (this.preface !== undefined) {
      const need = this.preface;
      const n = Math.min(need.length, data.length);
      if (data.compare(need, 0, n, 0, n) !== 0)
        throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, 'not an HTTP/2 connection preface');
      if (n < need.length) {
        this.pending = data;
        return;
      }
      this.preface = undefined;
      at = need.length;
    }
    const end = data.length;
    while (end - at >= FRAME_HEADER_LENGTH) {
      const length = (data[at]! << 16) | (data[at + 1]! << 8) | data[at + 2]!;
      if (length > this.maxFrameSize) {
        throw new H2ConnectionError(
          H2Code.FRAME_SIZE_ERROR,
          `frame of ${length} bytes, above SETTINGS_MAX_FRAME_SIZE ${this.maxFrameSize}`,
        );
      }
      const payloadEnd = at + FRAME_HEADER_LENGTH + length;
      if (payloadEnd > end) break;
      const streamId = data.readUInt32BE(at + 5) & MAX_WINDOW_SIZE;
      this.onFrame(
        data[at + 3]!,
        data[at + 4]!,
        streamId,
        data.subarray(at + FRAME_HEADER_LENGTH, payloadEnd),
      );
      at = payloadEnd;
    }
    if (at < end) this.pending = at === 0 ? data : data.subarray(at);
  }
}
