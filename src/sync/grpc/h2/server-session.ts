import type { Socket } from 'node:net';
import { CLIENT_PREFACE, H2Code, H2ConnectionError, Setting, rstStream } from './frames.js';
import { HpackEncoder } from './hpack.js';
import { H2Session, type H2SessionOptions } from './session.js';
import { H2Stream, type H2StreamEvents } from './stream.js';

/**
 * The server side of Courier's own HTTP/2 (`H2Session` does the framing, HPACK and flow control): it expects
 * the client preface, announces its SETTINGS (concurrency limit, windows, header list size), and turns each
 * new request header block into an `H2Stream` handed to `onStream`, which must set the stream's `events`.
 *
 * Rules kept: client streams have odd, increasing ids (an even id is a PROTOCOL_ERROR; a HEADERS frame on a
 * lower odd id is taken for a late frame of a stream already closed, and ignored, as nghttp2 does: a skipped
 * id and one we reset cannot be told apart without remembering every stream); a stream above
 * SETTINGS_MAX_CONCURRENT_STREAMS, or opened after we said GOAWAY, is refused with RST_STREAM REFUSED_STREAM
 * (the client may retry it elsewhere: it never ran). `close()` says GOAWAY with the last stream id taken,
 * lets those streams finish, then closes; `destroy()` aborts them. A client that ends its request while we
 * still answer is normal (half-closed remote): the stream stays open until our side ends.
 */
export interface H2ServerOptions extends H2SessionOptions {
  /** SETTINGS_MAX_CONCURRENT_STREAMS. Default 1000. */
  readonly maxConcurrentStreams?: number;
  /**
   * How long a new connection has to send the client preface and its SETTINGS before it is closed, ms
   * (a socket that sends nothing would otherwise be held forever). Default 10,000; 0 or Infinity: no limit.
   */
  readonly prefaceTimeoutMs?: number;
  /**
   * Rapid-reset bound (CVE-2023-44487, and CVE-2025-8671 for resets the client provokes): a stream reset
   * before our answer frees its concurrency slot at once while its handler may still run, so the
   * concurrency limit alone does not bound the work a client can start. Early resets are taken from a token
   * bucket of `resetBurst` tokens (default 1000) refilled at `resetRate` per second (default 33, as
   * nghttp2's); a client that empties it gets GOAWAY ENHANCE_YOUR_CALM. Resets of streams already answered
   * (no longer open here) are not counted.
   */
  readonly resetBurst?: number;
  readonly resetRate?: number;
}

export type StreamListener = (stream: H2Stream, fields: string[], endStream: boolean) => void;

const HEADERS_TOO_LARGE = new HpackEncoder().encodeStatic([':status', '431', 'content-type', 'text/plain']);

/** Events of a stream nobody took yet: ignored. */
const UNCLAIMED: H2StreamEvents = { onHeaders() {}, onData() {}, onAbort() {} };

export class H2ServerSession extends H2Session {
  private lastStreamId = 0;
  private readonly maxConcurrent: number;
  private goingAway = false;
  private prefaceTimer: NodeJS.Timeout | undefined;
  private readonly resetBurst: number;
  private readonly resetRate: number;
  private resetTokens: number;
  private resetRefilledAt = 0;

  constructor(
    socket: Socket,
    options: H2ServerOptions,
    private readonly onStream: StreamListener,
  ) {
    const maxConcurrent = options.maxConcurrentStreams ?? 1000;
    super(socket, options, [[Setting.MAX_CONCURRENT_STREAMS, maxConcurrent]], { expect: CLIENT_PREFACE });
    this.maxConcurrent = maxConcurrent;
    this.resetBurst = options.resetBurst ?? 1000;
    this.resetRate = options.resetRate ?? 33;
    this.resetTokens = this.resetBurst;
    const prefaceMs = options.prefaceTimeoutMs ?? 10_000;
    if (prefaceMs > 0 && Number.isFinite(prefaceMs) && this.failure === undefined) {
      this.prefaceTimer = setTimeout(
        () =>
          this.fail(
            new H2ConnectionError(
              H2Code.PROTOCOL_ERROR,
              `no HTTP/2 preface and SETTINGS within ${prefaceMs} ms`,
            ),
            H2Code.PROTOCOL_ERROR,
          ),
        prefaceMs,
      );
      this.prefaceTimer.unref();
    }
  }

  /** Say GOAWAY (no new streams), let the open ones finish, then close the socket. */
  close(): Promise<void> {
    if (!this.goingAway) {
      this.goingAway = true;
      if (this.streams.size === 0) this.goawayAndEnd(this.lastStreamId);
      else this.sendGoaway(this.lastStreamId); // the final GOAWAY follows when they are done
    }
    return this.closed;
  }

  // ------------------------------------------------------------------------------------ H2Session

  protected unknownStreamHeaders(id: number, endStream: boolean, fields: string[]): void {
    if (this.wasOpened(id)) return; // trailers of a stream we already reset (or a lower odd id, see above)
    if (id % 2 === 0) throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, `invalid stream id ${id}`);
    this.lastStreamId = id;
    if (this.goingAway || this.streams.size >= this.maxConcurrent) {
      this.queueAnswer(rstStream(id, H2Code.REFUSED_STREAM));
      return;
    }
    const stream = new H2Stream(this, UNCLAIMED, this.peerInitialWindow, this.streamWindowSize);
    stream.id = id;
    stream.headersSeen = true;
    this.addStream(stream);
    if (endStream) stream.remoteEnded = true;
    this.onStream(stream, fields, endStream);
  }

  protected wasOpened(id: number): boolean {
    return id % 2 === 1 && id <= this.lastStreamId;
  }

  protected override lastPeerStreamId(): number {
    return this.lastStreamId;
  }

  /**
   * A request whose headers exceed our SETTINGS_MAX_HEADER_LIST_SIZE is answered HTTP 431 (a final answer:
   * REFUSED_STREAM would tell the client to retry what can never succeed), then reset with NO_ERROR so the
   * client stops sending its body.
   */
  protected override refuseOversizedStream(id: number): void {
    if (id % 2 === 0) throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, `invalid stream id ${id}`);
    this.lastStreamId = id; // its DATA may follow: a closed stream's, not an idle one's
    this.queueHeaders(id, HEADERS_TOO_LARGE, true);
    this.queue(rstStream(id, H2Code.NO_ERROR));
  }

  protected remoteEndedFirst(): void {
    // The request is complete; the answer follows.
  }

  /** The answer is complete before the request (an early error): tell the client to stop sending (RFC 9113 §8.1). */
  localEndedFirst(stream: H2Stream): void {
    stream.reset(H2Code.NO_ERROR);
  }

  protected afterStreamClosed(): void {
    if (this.goingAway && this.streams.size === 0) this.goawayAndEnd(this.lastStreamId);
  }

  protected onGoaway(): void {
    // The client will open no more streams; those open finish as usual.
  }

  /** The client's first SETTINGS came (after the preface, which the parser checked): the preface is complete. */
  protected override settingsApplied(): void {
    this.clearPrefaceTimer();
  }

  protected override streamResetEarly(): void {
    const now = performance.now();
    this.resetTokens = Math.min(
      this.resetBurst,
      this.resetTokens + ((now - this.resetRefilledAt) * this.resetRate) / 1000,
    );
    this.resetRefilledAt = now;
    if (this.resetTokens < 1)
      throw new H2ConnectionError(H2Code.ENHANCE_YOUR_CALM, 'too many streams reset before their answer');
    this.resetTokens -= 1;
  }

  protected failed(): void {
    this.goingAway = true;
    this.clearPrefaceTimer();
  }

  private clearPrefaceTimer(): void {
    if (this.prefaceTimer === undefined) return;
    clearTimeout(this.prefaceTimer);
    this.prefaceTimer = undefined;
  }
}
