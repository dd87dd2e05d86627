/**
 * A socket that speaks frames: incoming bytes are cut into frames for `onFrame`; outgoing frames are encoded
 * into `out` and written together once per event-loop turn (`setImmediate`), so that everything produced by
 * one burst of work (all the publishes a producer issued, all the results of one group commit) leaves in
 * one write. Big bursts are written early, at `FLUSH_BYTES`.
 *
 * What the handling of one received chunk produced leaves earlier: once the microtasks that handling
 * queued have run. A chunk of settlements on the server releases credit, and the deliveries it lets through
 * would otherwise wait behind every check-phase callback queued before the flush, such as the embedded
 * broker's group commit of the producer's next thousand publishes (milliseconds). The remote consumer and
 * the server then work in parallel instead of in turns (measured: end to end 115 k → 140 k msg/s in the
 * broker benchmark's topology), and a consumer's settlements go back one write per received chunk.
 *
 * `onClose` is called exactly once, when the socket is gone for any reason (end, error, destroy, a frame
 * the handler rejected by throwing).
 */
import type { Socket } from 'node:net';
import { FrameDecoder, type Cursor } from './frame-decoder.js';
import { FrameEncoder } from './frame-encoder.js';

const FLUSH_BYTES = 256 * 1024;

export interface FramedSocketHandlers {
  onFrame(type: number, cursor: Cursor): void;
  onClose(error: Error | undefined): void;
  /** Called right before a write, to add frames gathered lazily (the server's RESULTS frame). */
  beforeFlush?(): void;
}

export class FramedSocket {
  readonly out = new FrameEncoder();
  private readonly decoder: FrameDecoder;
  private flushScheduled = false;
  private chunkFlushQueued = false;
  private closed = false;
  private closeError: Error | undefined;

  constructor(
    readonly socket: Socket,
    private readonly handlers: FramedSocketHandlers,
  ) {
    this.decoder = new FrameDecoder((type, cursor) => handlers.onFrame(type, cursor));
    if (typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      if (this.closed) return;
      try {
        this.decoder.push(chunk);
      } catch (error) {
        this.destroy(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      if (!this.chunkFlushQueued) {
        this.chunkFlushQueued = true;
        queueMicrotask(this.flushAfterChunk);
      }
    });
    socket.on('error', (error) => {
      this.closeError ??= error;
    });
    socket.on('close', () => this.finish());
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Ask for a write of everything encoded so far, at the end of this event-loop turn. */
  scheduleFlush(): void {
    if (this.closed) return;
    if (this.out.pendingBytes >= FLUSH_BYTES) {
      this.flush();
      return;
    }
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.flush);
  }

  /** Write what is encoded now. */
  readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.closed) return;
    this.handlers.beforeFlush?.();
    const chunk = this.out.take();
    if (chunk !== undefined) this.socket.write(chunk);
  };

  /** After a received chunk was handled (its microtasks included): write what that produced, if anything. */
  private readonly flushAfterChunk = (): void => {
    this.chunkFlushQueued = false;
    if (this.flushScheduled) this.flush();
  };

  /** True when the kernel buffer is full and writes are queuing in memory. */
  get congested(): boolean {
    return this.socket.writableNeedDrain;
  }

  /** Flush, then half-close; `onClose` follows when the peer closes too. */
  end(): void {
    if (this.closed) return;
    this.flush();
    this.socket.end();
  }

  destroy(error?: Error): void {
    if (error !== undefined) this.closeError ??= error;
    this.socket.destroy();
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers.onClose(this.closeError);
  }
}
