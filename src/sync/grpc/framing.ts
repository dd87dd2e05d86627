import { MessageTooLargeError } from '../../core/errors.js';
import { BadRequestError } from '../errors.js';

/**
 * gRPC's length-prefixed messages (the body of every request and response): 1 byte compressed-flag, 4 bytes
 * big-endian length, then the message. Courier never compresses (it advertises `grpc-accept-encoding:
 * identity`), so a frame with the flag set is refused.
 *
 * `FrameReader` turns the DATA chunks of one stream into messages. The common case (a unary call: one
 * message in one chunk) hands the message out as a view of that chunk, with no copy; messages split across
 * chunks are assembled once their length is known. A declared length above `maxBytes` fails at once, before
 * the body is read, with `MessageTooLargeError` (→ RESOURCE_EXHAUSTED), so a peer cannot make us buffer it.
 */
export const FRAME_HEADER_BYTES = 5;

export class FrameReader {
  /** Chunks of an incomplete frame, their total size, and the size at which another frame can be read. */
  private chunks: Buffer[] | undefined;
  private size = 0;
  private need = 0;

  constructor(
    private readonly maxBytes: number,
    /** Called with each complete message (a view valid until the call returns; decode it there). */
    private readonly onMessage: (message: Buffer) => void,
  ) {}

  /** Feed one chunk. Throws `MessageTooLargeError` or `BadRequestError`; the stream is then unusable. */
  push(chunk: Buffer): void {
    let data = chunk;
    if (this.chunks !== undefined) {
      // A large message arrives in many DATA frames: collect them and concatenate once it is complete.
      this.chunks.push(chunk);
      this.size += chunk.length;
      if (this.size < this.need) return;
      data = Buffer.concat(this.chunks, this.size);
      this.chunks = undefined;
    }
    let offset = 0;
    while (data.length - offset >= FRAME_HEADER_BYTES) {
      const length = this.header(data, offset);
      const end = offset + FRAME_HEADER_BYTES + length;
      if (end > data.length) break;
      this.onMessage(data.subarray(offset + FRAME_HEADER_BYTES, end));
      offset = end;
    }
    if (offset < data.length) {
      const rest = offset === 0 ? data : data.subarray(offset);
      this.chunks = [rest];
      this.size = rest.length;
      this.need = rest.length >= FRAME_HEADER_BYTES ? FRAME_HEADER_BYTES + rest.readUInt32BE(1) : FRAME_HEADER_BYTES;
    }
  }

  /** True when the stream ended in the middle of a frame. */
  get incomplete(): boolean {
    return this.chunks !== undefined;
  }

  private header(data: Buffer, offset: number): number {
    const flag = data[offset]!;
    const length = data.readUInt32BE(offset + 1);
    if (flag !== 0) {
      throw new BadRequestError(
        'malformed-body',
        flag === 1 ? 'compressed messages are not accepted (grpc-encoding identity only)' : `invalid frame flag ${flag}`,
      );
    }
    if (length > this.maxBytes) throw new MessageTooLargeError(length, this.maxBytes);
    return length;
  }
}
