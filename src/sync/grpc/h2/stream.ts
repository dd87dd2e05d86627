import { H2Code, MAX_WINDOW_SIZE } from './frames.js';

/**
 * One HTTP/2 stream of Courier's own HTTP/2 (`session.ts`, either side): what we write (a request, or a
 * server's response headers, data and trailers) and what the peer sends, told through `H2StreamEvents`, with
 * flow control both ways.
 *
 * Contract:
 * - Events arrive in wire order: `onHeaders` (the response headers, then maybe trailers with `endStream`),
 *   `onData` (views of socket buffers: decode or copy them before returning), and at most one `onAbort`
 *   when the stream ends without completing. After `endStream` was seen or `onAbort` ran, nothing follows.
 * - `write` queues DATA; what the peer's flow-control windows (stream and connection) do not admit waits in
 *   the stream and leaves as WINDOW_UPDATEs arrive. It returns false once more than `HIGH_WATER` bytes wait,
 *   or while the connection is congested (frames not yet flushed, or a full socket buffer: a peer that grants
 *   large windows but does not read must not make us buffer without bound); `onDrain` then says when
 *   writing may continue.
 * - `pause` stops delivery and stops returning receive window to the peer, so a consumer that stops reading
 *   stops the sender (HTTP/2 backpressure); what arrived meanwhile (bounded by the window we granted) is
 *   delivered by `resume`.
 * - `reset(code)` ends the stream at once with RST_STREAM; no event follows.
 */
export interface H2StreamEvents {
  onHeaders(fields: string[], endStream: boolean): void;
  onData(chunk: Buffer, endStream: boolean): void;
  onAbort(abort: H2Abort): void;
  onDrain?(): void;
}

export interface H2Abort {
  /** The RST_STREAM or GOAWAY code, or INTERNAL_ERROR / CONNECT_ERROR for a connection failure. */
  readonly code: number;
  /** The connection's failure, when that is why. */
  readonly error: Error | undefined;
  /** True when the peer never processed the request (refused, above GOAWAY's last id, never sent): safe to retry. */
  readonly refused: boolean;
}

/** What a stream needs from its connection. */
export interface StreamHost {
  sendHeaders(stream: H2Stream, block: Buffer, endStream: boolean): void;
  /** Send what the windows admit of the stream's queued data. */
  flushData(stream: H2Stream): void;
  sendReset(stream: H2Stream, code: number): void;
  sendWindowUpdate(streamId: number, increment: number): void;
  streamClosed(stream: H2Stream): void;
  /** Our side ended while the peer's is still open. */
  localEndedFirst(stream: H2Stream): void;
  /**
   * True while the connection holds too much unwritten: its own frames not yet handed to the socket, or a
   * socket buffer over its high-water mark (until 'drain').
   */
  readonly congested: boolean;
  /** Call `stream.maybeDrained()` once the connection is no longer congested. */
  awaitDrain(stream: H2Stream): void;
}

/** Queued bytes above which `write` returns false. */
const HIGH_WATER = 64 * 1024;

export class H2Stream {
  /** 0 until the HEADERS frame is sent (ids are given in sending order). */
  id = 0;
  sendWindow: number;
  /** DATA waiting for window, and whether END_STREAM follows it. */
  queued: Buffer[] = [];
  queuedBytes = 0;
  /** True while the first queued chunk is partly on the wire (a DATA frame carried only its start). */
  headStarted = false;
  endQueued = false;
  /** Trailers to end our side with once the queued data is out (instead of an empty END_STREAM DATA). */
  trailers: Buffer | undefined;
  /** True once we sent a header block (a server's response headers). */
  headersSent = false;
  localEnded = false;
  remoteEnded = false;
  headersSeen = false;
  closed = false;
  /** Receive side: window left for the peer, bytes delivered but not yet returned. */
  recvWindow: number;
  private unreturned = 0;
  private paused = false;
  /** What arrived while paused, in order: DATA chunks and header blocks (trailers must not overtake data). */
  private held: Array<{ chunk: Buffer; end: boolean } | { fields: string[]; end: boolean }> | undefined;
  private wantsDrain = false;

  constructor(
    private readonly host: StreamHost,
    /** Set by whoever takes the stream; a server's streams get theirs when the request headers arrive. */
    public events: H2StreamEvents,
    sendWindow: number,
    private readonly recvWindowSize: number,
  ) {
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindowSize;
  }

  /** Queue `data` (and END_STREAM with `end`). False when the caller should wait for `onDrain`. */
  write(data: Buffer | undefined, end: boolean): boolean {
    if (this.closed || this.localEnded || this.endQueued) return false;
    if (data !== undefined && data.length > 0) {
      this.queued.push(data);
      this.queuedBytes += data.length;
    }
    if (end) this.endQueued = true;
    this.host.flushData(this);
    const congested = this.host.congested;
    if (this.queuedBytes <= HIGH_WATER && !congested) return true;
    this.wantsDrain = true;
    if (congested) this.host.awaitDrain(this);
    return false;
  }

  /** Close our side without more data. */
  end(): void {
    this.write(undefined, true);
  }

  /** Send a header block (a server's response headers); with `endStream`, nothing follows (trailers-only). */
  respond(block: Buffer, endStream: boolean): void {
    if (this.closed || this.localEnded || this.headersSent) return;
    this.headersSent = true;
    this.host.sendHeaders(this, block, endStream);
    if (endStream) this.endedLocally();
  }

  /** End our side with trailers, after whatever data is still queued. */
  sendTrailers(block: Buffer): void {
    if (this.closed || this.localEnded || this.endQueued) return;
    this.trailers = block;
    this.endQueued = true;
    this.host.flushData(this);
  }

  /**
   * End our side with trailers now, dropping the queued chunks not yet begun on the wire: for a call that
   * ended on its deadline or was cancelled, whose unsent messages nobody will read, behind a window that
   * may never open again. Header blocks are not flow-controlled, so the trailers go at once. A chunk
   * already half sent cannot be cut short without leaving the peer a truncated message, so then the
   * stream is reset with `CANCEL` instead.
   */
  sendTrailersNow(block: Buffer): void {
    if (this.closed || this.localEnded) return;
    if (this.headStarted) {
      this.reset(H2Code.CANCEL);
      return;
    }
    this.queued.length = 0;
    this.queuedBytes = 0;
    this.endQueued = false;
    this.sendTrailers(block);
  }

  reset(code: number = H2Code.CANCEL): void {
    if (this.closed) return;
    this.host.sendReset(this, code);
    this.held = undefined;
    this.close();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const held = this.held;
    // Held events are delivered even when the stream already completed on the wire (trailers arrived while
    // paused); only a reset or an abort drops them.
    while (held !== undefined && held.length > 0 && !this.paused && this.held === held) {
      const next = held.shift()!;
      if ('fields' in next) this.events.onHeaders(next.fields, next.end);
      else this.deliver(next.chunk, next.end);
    }
    if (held !== undefined && held.length === 0 && this.held === held) this.held = undefined;
    this.returnWindow();
  }

  // ------------------------------------------------------------------------- called by the connection

  /** DATA arrived for this stream (`frameLength` counts padding too: it all used window). */
  received(chunk: Buffer, end: boolean, frameLength: number): void {
    this.recvWindow -= frameLength;
    this.unreturned += frameLength - chunk.length; // padding is returned at once
    if (end) this.remoteEnded = true;
    if (this.paused || this.held !== undefined) {
      (this.held ??= []).push({ chunk, end });
      return;
    }
    this.deliver(chunk, end);
  }

  /** A header block arrived for this stream (response headers or trailers); held behind data while paused. */
  receivedHeaders(fields: string[], end: boolean): void {
    if (this.paused || this.held !== undefined) {
      (this.held ??= []).push({ fields, end });
      return;
    }
    this.events.onHeaders(fields, end);
  }

  /** The peer's window for our DATA grew (WINDOW_UPDATE, or a SETTINGS change of the initial size). */
  windowGrew(): void {
    this.host.flushData(this);
    this.maybeDrained();
  }

  /** Tell a writer waiting for `onDrain` that it may go on, once neither the queue nor the socket is full. */
  maybeDrained(): void {
    if (!this.wantsDrain || this.closed || this.queuedBytes > HIGH_WATER) return; // windowGrew() calls again
    if (this.host.congested) {
      this.host.awaitDrain(this);
      return;
    }
    this.wantsDrain = false;
    this.events.onDrain?.();
  }

  /** Our side ended (END_STREAM sent); closes the stream when the peer's side ended too. */
  endedLocally(): void {
    this.localEnded = true;
    this.endQueued = false;
    this.trailers = undefined;
    if (this.remoteEnded) this.close();
    else this.host.localEndedFirst(this);
  }

  /** Mark closed and leave the connection; `abort` tells the caller why, when it did not complete. */
  close(abort?: H2Abort): void {
    if (this.closed) return;
    this.closed = true;
    this.queued = [];
    this.queuedBytes = 0;
    this.host.streamClosed(this);
    if (abort !== undefined) {
      this.held = undefined;
      this.events.onAbort(abort);
    }
  }

  private deliver(chunk: Buffer, end: boolean): void {
    this.unreturned += chunk.length;
    this.events.onData(chunk, end);
    if (!end) this.returnWindow();
  }

  /** Give the peer back what was consumed, in steps of half the window (not one WINDOW_UPDATE per frame). */
  private returnWindow(): void {
    if (this.paused || this.closed || this.remoteEnded) return;
    if (this.unreturned >= this.recvWindowSize / 2 || this.recvWindow <= 0) {
      const increment = Math.min(this.unreturned, MAX_WINDOW_SIZE - this.recvWindow);
      this.unreturned = 0;
      if (increment <= 0) return;
      this.recvWindow += increment;
      this.host.sendWindowUpdate(this.id, increment);
    }
  }
}
