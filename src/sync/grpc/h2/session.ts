import type { Socket } from 'node:net';
import {
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW_SIZE,
  FRAME_HEADER_LENGTH,
  Flag,
  FrameParser,
  FrameType,
  H2Code,
  H2ConnectionError,
  MAX_WINDOW_SIZE,
  Setting,
  frame,
  goaway,
  rstStream,
  settingsFrame,
  windowUpdate,
  writeFrameHeader,
} from './frames.js';
import { HeaderListTooLargeError, HpackDecoder, HpackError } from './hpack.js';
import type { H2Abort, H2Stream, StreamHost } from './stream.js';

/**
 * One HTTP/2 connection, either side: what Courier's own client (`client-session.ts`) and server
 * (`server-session.ts`) share. It owns the socket and does the framing (`frames.ts`), HPACK decoding of the
 * peer's header blocks (with the dynamic table; our own blocks never index, see `hpack.ts`), HEADERS +
 * CONTINUATION assembly, flow control both ways (`stream.ts` per stream; the connection's windows here),
 * SETTINGS (the peer's concurrency, initial window and frame size honoured; ACKed), PING answered,
 * WINDOW_UPDATE, RST_STREAM, and connection errors (GOAWAY with the code, then close; every stream is told).
 * The sides differ in who opens streams and what GOAWAY means: the subclasses.
 *
 * Writing: frames are collected and written once per tick (`process.nextTick`), so the frames of many
 * streams made in one burst (a client's calls, a server's answers) leave in one socket write.
 *
 * Why our own HTTP/2 rather than `node:http2`: its per-stream machinery (a Duplex per stream, header objects
 * converted both ways, an `AsyncResource.bind` per request, events per frame) cost more CPU per unary gRPC
 * call than a whole HTTP/1.1 call, on both ends. Here a stream is one small object with four callbacks.
 */
export interface H2SessionOptions {
  /** Our receive window per stream (SETTINGS_INITIAL_WINDOW_SIZE). Default 1 MiB. */
  readonly streamWindowSize?: number;
  /** Our receive window for the whole connection. Default 8 MiB. */
  readonly connectionWindowSize?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE: the largest header list we accept from the peer. Default 64 KiB. */
  readonly maxHeaderListSize?: number;
}

interface PendingBlock {
  readonly streamId: number;
  readonly endStream: boolean;
  readonly chunks: Buffer[];
  size: number;
  /** Bytes on the wire so far, frame headers included: what bounds a flood of empty CONTINUATIONs. */
  wire: number;
}

/**
 * Largest header block (all CONTINUATIONs together, frame headers counted) before decoding, as a multiple
 * of the header list limit: more is an attack, answered with a connection error. Frame headers count
 * because an empty CONTINUATION adds nothing to `size` yet is kept (a view of its socket chunk) until
 * END_HEADERS (CVE-2024-27316-style floods). The slack over the limit keeps a list merely too large a
 * stream error (431, the connection goes on): Huffman coding can spell a byte in up to 30 bits, and each
 * field costs a few bytes of framing.
 */
const BLOCK_BYTES_PER_LIST_BYTE = 4;
const BLOCK_BYTES_SLACK = 64 * 1024;

/** Unflushed frame bytes above which the connection counts as congested (writers wait for the flush). */
const OUT_HIGH_WATER = 256 * 1024;

/**
 * Answers to the peer's own frames (PING and SETTINGS ACKs, refusals) queued while the socket does not
 * drain: a peer that floods PINGs and never reads would otherwise grow our write buffer without bound
 * (CVE-2019-9512, -9515). Past this many it is ENHANCE_YOUR_CALM; the count restarts on every 'drain'.
 */
const MAX_BACKLOGGED_ANSWERS = 10_000;

/** After our final GOAWAY and `end()`, how long the peer has to close its side before the socket is destroyed. */
const END_GRACE_MS = 2000;

export abstract class H2Session implements StreamHost {
  readonly closed: Promise<void>;
  protected readonly streams = new Map<number, H2Stream>();
  protected readonly streamWindowSize: number;
  protected peerMaxConcurrent = Infinity;
  protected peerInitialWindow = DEFAULT_WINDOW_SIZE;
  /** The socket's buffer is over its high-water mark (until 'drain'). */
  private socketFull = false;
  /** Streams whose writer waits for the connection to take more (`H2Stream.write` returned false). */
  private readonly drainWaiters = new Set<H2Stream>();
  protected failure: Error | undefined;
  private readonly parser: FrameParser;
  private readonly decoder: HpackDecoder;
  /** Largest header block accepted before decoding (see `BLOCK_BYTES_PER_LIST_BYTE`). */
  private readonly maxBlockBytes: number;
  private readonly connectionWindowSize: number;
  /** Streams with data held back only by the connection's send window. */
  private readonly blocked = new Set<H2Stream>();
  private peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  private sendWindow = DEFAULT_WINDOW_SIZE;
  private recvWindow: number;
  private recvUnreturned = 0;
  /**
   * Until the peer acknowledges our SETTINGS it may still use the default initial window (65,535) for its
   * DATA: a client's first request can cross our SETTINGS on the wire (RFC 9113 §6.5.3, §6.9.2). When our
   * stream window is smaller, each stream accepts this much more until the ACK, which takes it back.
   */
  private settingsGrace: number;
  /** The peer's first frame (its SETTINGS, RFC 9113 §3.4) has arrived. */
  private peerSettingsSeen = false;
  private block: PendingBlock | undefined;
  private out: Buffer[] = [];
  private outBytes = 0;
  private flushScheduled = false;
  private backloggedAnswers = 0;
  private readonly flushOut = (): void => this.flush();

  protected constructor(
    protected readonly socket: Socket,
    options: H2SessionOptions,
    /** Settings of our own beyond the windows and header list size. */
    extraSettings: ReadonlyArray<readonly [id: number, value: number]>,
    /** The connection preface: sent before our SETTINGS (client), or expected before the peer's first frame (server). */
    preface: { readonly send?: Buffer; readonly expect?: Buffer },
  ) {
    this.streamWindowSize = options.streamWindowSize ?? 1024 * 1024;
    this.connectionWindowSize = options.connectionWindowSize ?? 8 * 1024 * 1024;
    this.recvWindow = this.connectionWindowSize;
    this.settingsGrace = Math.max(0, DEFAULT_WINDOW_SIZE - this.streamWindowSize);
    const maxHeaderListSize = options.maxHeaderListSize ?? 64 * 1024;
    this.decoder = new HpackDecoder({ maxHeaderListSize });
    this.maxBlockBytes = BLOCK_BYTES_PER_LIST_BYTE * maxHeaderListSize + BLOCK_BYTES_SLACK;
    this.parser = new FrameParser(
      DEFAULT_MAX_FRAME_SIZE,
      (type, flags, id, payload) => this.onFrame(type, flags, id, payload),
      preface.expect,
    );
    socket.setNoDelay(true);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.onSocketData(chunk));
    socket.on('drain', () => {
      this.backloggedAnswers = 0;
      this.socketFull = false;
      this.notifyDrained();
    });
    socket.on('error', (error) => this.fail(error, H2Code.CONNECT_ERROR));
    socket.on('close', () => this.fail(new Error('the HTTP/2 connection closed'), H2Code.CONNECT_ERROR));
    if (preface.send !== undefined) this.queue(preface.send);
    this.queue(
      settingsFrame([
        ...extraSettings,
        [Setting.INITIAL_WINDOW_SIZE, this.streamWindowSize],
        [Setting.MAX_HEADER_LIST_SIZE, maxHeaderListSize],
      ]),
    );
    if (this.connectionWindowSize > DEFAULT_WINDOW_SIZE)
      this.queue(windowUpdate(0, this.connectionWindowSize - DEFAULT_WINDOW_SIZE));
  }

  /** Close at once: every open stream is aborted with `error`. */
  destroy(error: Error = new Error('the HTTP/2 connection was closed')): void {
    this.fail(error, H2Code.CANCEL);
  }

  // ------------------------------------------------------------------------------- for the sides

  /** A complete header block for a stream we do not track (new on a server; closed or idle on a client). */
  protected abstract unknownStreamHeaders(id: number, endStream: boolean, fields: string[]): void;
  protected abstract onGoaway(lastStreamId: number, code: number): void;
  /** A stream left `streams` (or a waiting one was dropped). */
  protected abstract afterStreamClosed(stream: H2Stream): void;
  /** The peer's SETTINGS may have raised its concurrency limit. */
  protected settingsApplied(): void {}

  /** True when `id` names a stream that existed and is closed now (its late frames are ignored). */
  protected abstract wasOpened(id: number): boolean;

  /** Say GOAWAY(`lastStreamId`, NO_ERROR): no streams above it will be processed. */
  protected sendGoaway(lastStreamId: number): void {
    this.queue(goaway(lastStreamId, H2Code.NO_ERROR));
  }

  /**
   * The last peer-initiated stream we may have acted on, for the GOAWAY of a connection error: a peer retries
   * only the streams above it, so it must not be lower than a stream we processed. 0 for a client (it takes
   * no streams from the server).
   */
  protected lastPeerStreamId(): number {
    return 0;
  }

  /** Track stream `stream` (its id set) as open. */
  protected addStream(stream: H2Stream): void {
    this.streams.set(stream.id, stream);
    stream.recvWindow += this.settingsGrace;
  }

  /** Send GOAWAY(`lastStreamId`, NO_ERROR) now and close the socket once it is written. */
  protected goawayAndEnd(lastStreamId: number): void {
    if (this.failure !== undefined) return;
    this.sendGoaway(lastStreamId);
    this.flush();
    this.failure = new Error('the HTTP/2 connection was closed');
    this.socket.end();
    // Nothing more is sent either way; a peer that never closes its side (node:http2 after it said GOAWAY
    // itself) would otherwise keep the socket, and `closed`, open forever.
    setTimeout(() => this.socket.destroy(), END_GRACE_MS).unref();
  }

  // ---------------------------------------------------------------------------------- StreamHost

  sendHeaders(stream: H2Stream, block: Buffer, endStream: boolean): void {
    this.queueHeaders(stream.id, block, endStream);
  }

  /** HEADERS (+ CONTINUATION when the block exceeds the peer's frame size) for stream `id`. */
  protected queueHeaders(id: number, block: Buffer, endStream: boolean): void {
    const max = this.peerMaxFrameSize;
    const end = endStream ? Flag.END_STREAM : 0;
    if (block.length <= max) {
      this.queueFrameHeader(block.length, FrameType.HEADERS, Flag.END_HEADERS | end, id);
      this.queue(block);
      return;
    }
    this.queueFrameHeader(max, FrameType.HEADERS, end, id);
    this.queue(block.subarray(0, max));
    for (let at = max; at < block.length; at += max) {
      const part = block.subarray(at, Math.min(block.length, at + max));
      this.queueFrameHeader(
        part.length,
        FrameType.CONTINUATION,
        at + max >= block.length ? Flag.END_HEADERS : 0,
        id,
      );
      this.queue(part);
    }
  }

  flushData(stream: H2Stream): void {
    if (stream.id === 0 || stream.closed || stream.localEnded) return;
    const queued = stream.queued;
    while (queued.length > 0) {
      const chunk = queued[0]!;
      const n = Math.min(chunk.length, stream.sendWindow, this.sendWindow, this.peerMaxFrameSize);
      if (n <= 0) {
        if (this.sendWindow <= 0 && stream.sendWindow > 0) this.blocked.add(stream);
        return;
      }
      const whole = n === chunk.length;
      const last = whole && queued.length === 1 && stream.endQueued && stream.trailers === undefined;
      this.queueFrameHeader(n, FrameType.DATA, last ? Flag.END_STREAM : 0, stream.id);
      this.queue(whole ? chunk : chunk.subarray(0, n));
      stream.sendWindow -= n;
      this.sendWindow -= n;
      stream.queuedBytes -= n;
      if (whole) queued.shift();
      else queued[0] = chunk.subarray(n);
      stream.headStarted = !whole;
      if (last) return stream.endedLocally();
    }
    if (!stream.endQueued) return;
    // Trailers (a header block with END_STREAM) or an empty DATA frame end our side, after all the data.
    if (stream.trailers !== undefined) this.sendHeaders(stream, stream.trailers, true);
    else this.queueFrameHeader(0, FrameType.DATA, Flag.END_STREAM, stream.id);
    stream.endedLocally();
  }

  sendReset(stream: H2Stream, code: number): void {
    if (stream.id !== 0) this.queue(rstStream(stream.id, code));
  }

  sendWindowUpdate(streamId: number, increment: number): void {
    this.queue(windowUpdate(streamId, increment));
  }

  streamClosed(stream: H2Stream): void {
    this.drainWaiters.delete(stream);
    this.blocked.delete(stream);
    if (stream.id !== 0) this.streams.delete(stream.id);
    this.afterStreamClosed(stream);
  }

  // -------------------------------------------------------------------------------------- sending

  private queueFrameHeader(length: number, type: number, flags: number, streamId: number): void {
    const header = Buffer.allocUnsafe(FRAME_HEADER_LENGTH);
    writeFrameHeader(header, 0, length, type, flags, streamId);
    this.queue(header);
  }

  /** Queue a frame the peer's frame calls for (an ACK, a refusal); bounded while the peer does not read. */
  protected queueAnswer(bytes: Buffer): void {
    if (this.socket.writableNeedDrain && ++this.backloggedAnswers > MAX_BACKLOGGED_ANSWERS)
      throw new H2ConnectionError(
        H2Code.ENHANCE_YOUR_CALM,
        'the peer sends frames to answer but does not read',
      );
    this.queue(bytes);
  }

  protected queue(bytes: Buffer): void {
    if (this.failure !== undefined) return;
    this.out.push(bytes);
    this.outBytes += bytes.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flushOut);
    }
  }

  protected flush(): void {
    this.flushScheduled = false;
    if (this.outBytes === 0 || this.failure !== undefined) return;
    const out = this.out;
    const bytes = out.length === 1 ? out[0]! : Buffer.concat(out, this.outBytes);
    this.out = [];
    this.outBytes = 0;
    if (!this.socket.write(bytes)) this.socketFull = true;
    else this.notifyDrained();
  }

  /**
   * Too much is waiting to be written: frames of this tick not yet flushed (a writer looping on microtasks
   * never lets the flush run) or a full socket buffer (a peer that grants windows but does not read).
   */
  get congested(): boolean {
    return this.socketFull || this.outBytes > OUT_HIGH_WATER;
  }

  awaitDrain(stream: H2Stream): void {
    this.drainWaiters.add(stream);
  }

  private notifyDrained(): void {
    if (this.drainWaiters.size === 0) return;
    const waiters = [...this.drainWaiters];
    this.drainWaiters.clear();
    for (const stream of waiters) stream.maybeDrained();
  }

  // ------------------------------------------------------------------------------------ receiving

  private onSocketData(chunk: Buffer): void {
    try {
      this.parser.push(chunk);
    } catch (error) {
      if (error instanceof H2ConnectionError) this.fail(error, error.code);
      else if (error instanceof HpackError)
        this.fail(new H2ConnectionError(H2Code.COMPRESSION_ERROR, error.message), H2Code.COMPRESSION_ERROR);
      else this.fail(error instanceof Error ? error : new Error(String(error)), H2Code.INTERNAL_ERROR);
    }
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.failure !== undefined) return;
    if (!this.peerSettingsSeen) {
      // RFC 9113 §3.4: each side's preface ends with its own SETTINGS frame, which must be its first frame.
      if (type !== FrameType.SETTINGS || (flags & Flag.ACK) !== 0) {
        throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, `the peer's first frame must be SETTINGS, got frame type ${type}`);
      }
      this.peerSettingsSeen = true;
    }
    if (this.block !== undefined && (type !== FrameType.CONTINUATION || id !== this.block.streamId)) {
      throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, 'a header block was interrupted by another frame');
    }
    switch (type) {
      case FrameType.DATA:
        return this.onData(flags, id, payload);
      case FrameType.HEADERS:
        return this.onHeaders(flags, id, payload);
      case FrameType.CONTINUATION:
        return this.onContinuation(flags, id, payload);
      case FrameType.RST_STREAM:
        return this.onReset(id, payload);
      case FrameType.SETTINGS:
        return this.onSettings(flags, id, payload);
      case FrameType.PING:
        return this.onPing(flags, id, payload);
      case FrameType.GOAWAY:
        if (id !== 0) throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, 'GOAWAY on a stream');
        if (payload.length < 8) throw new H2ConnectionError(H2Code.FRAME_SIZE_ERROR, 'GOAWAY too short');
        return this.onGoaway(payload.readUInt32BE(0) & MAX_WINDOW_SIZE, payload.readUInt32BE(4));
      case FrameType.WINDOW_UPDATE:
        return this.onWindowUpdate(id, payload);
      case FrameType.PUSH_PROMISE:
        throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, 'PUSH_PROMISE although push is disabled');
      default:
        return; // PRIORITY and unknown types are ignored (RFC 9113 §5.5)
    }
  }

  private onData(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, 'DATA on stream 0');
    const length = payload.length;
    this.recvWindow -= length;
    if (this.recvWindow < 0)
      throw new H2ConnectionError(H2Code.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    // The connection window is returned on receipt: a paused stream holds at most its own window.
    this.recvUnreturned += length;
    if (this.recvUnreturned >= this.connectionWindowSize / 2) {
      this.queue(windowUpdate(0, this.recvUnreturned));
      this.recvWindow += this.recvUnreturned;
      this.recvUnreturned = 0;
    }
    let data = payload;
    if ((flags & Flag.PADDED) !== 0) {
      const pad = payload[0] ?? 0;
      if (length === 0 || pad >= length)
        throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, 'DATA padding exceeds the frame');
      data = payload.subarray(1, length - pad);
    }
    const stream = this.streams.get(id);
    if (stream === undefined) {
      if (this.wasOpened(id)) return; // a stream closed (reset) meanwhile: ignore
      throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, `DATA on idle stream ${id}`);
    }
    if (!stream.headersSeen || stream.remoteEnded)
      return this.streamError(stream, H2Code.STREAM_CLOSED, `DATA on stream ${id} in the wrong state`);
    if (length > stream.recvWindow)
      return this.streamError(stream, H2Code.FLOW_CONTROL_ERROR, `DATA beyond the window of stream ${id}`);
    const end = (flags & Flag.END_STREAM) !== 0;
    stream.received(data, end, length);
    if (end) this.endedRemotely(stream);
  }

  private onHeaders(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, 'HEADERS on stream 0');
    let start = 0;
    let end = payload.length;
    if ((flags & Flag.PADDED) !== 0) {
      start = 1;
      end -= payload[0] ?? 0;
    }
    if ((flags & Flag.PRIORITY) !== 0) start += 5;
    if (end < start) throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, 'HEADERS padding exceeds the frame');
    const fragment = payload.subarray(start, end);
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if ((flags & Flag.END_HEADERS) !== 0) this.headerBlock(id, endStream, fragment);
    else
      this.block = {
        streamId: id,
        endStream,
        chunks: [fragment],
        size: fragment.length,
        wire: FRAME_HEADER_LENGTH + payload.length,
      };
  }

  private onContinuation(flags: number, id: number, payload: Buffer): void {
    const block = this.block;
    if (block === undefined || block.streamId !== id)
      throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, 'CONTINUATION without HEADERS');
    block.chunks.push(payload);
    block.size += payload.length;
    block.wire += FRAME_HEADER_LENGTH + payload.length;
    if (block.wire > this.maxBlockBytes)
      throw new H2ConnectionError(H2Code.ENHANCE_YOUR_CALM, 'header block too large');
    if ((flags & Flag.END_HEADERS) === 0) return;
    this.block = undefined;
    this.headerBlock(id, block.endStream, Buffer.concat(block.chunks, block.size));
  }

  private headerBlock(id: number, endStream: boolean, block: Buffer): void {
    const stream = this.streams.get(id);
    let fields: string[];
    try {
      // Decoded even for a stream we no longer track: the dynamic table must follow the peer's encoder.
      fields = this.decoder.decode(block);
    } catch (error) {
      if (error instanceof HeaderListTooLargeError && stream !== undefined) {
        return this.streamError(stream, H2Code.PROTOCOL_ERROR, error.message);
      }
      if (error instanceof HeaderListTooLargeError && !this.wasOpened(id)) {
        this.refuseOversizedStream(id);
        return;
      }
      throw error;
    }
    if (stream === undefined) return this.unknownStreamHeaders(id, endStream, fields);
    if (stream.remoteEnded)
      return this.streamError(stream, H2Code.STREAM_CLOSED, `HEADERS on closed stream ${id}`);
    // An informational (1xx) response is skipped; the final one follows.
    if (!stream.headersSeen && !endStream && fields[0] === ':status' && fields[1]!.startsWith('1')) return;
    stream.headersSeen = true;
    if (endStream) stream.remoteEnded = true;
    stream.receivedHeaders(fields, endStream);
    if (endStream) this.endedRemotely(stream);
  }

  protected endedRemotely(stream: H2Stream): void {
    if (stream.closed) return;
    stream.remoteEnded = true;
    if (stream.localEnded) stream.close();
    else this.remoteEndedFirst(stream);
  }

  /**
   * Refuse a new peer stream without taking it: its header list was too large. The server answers it (see
   * there) and records the id as used, so the stream's DATA that follows is ignored rather than taken for
   * DATA on an idle stream.
   */
  protected refuseOversizedStream(id: number): void {
    this.queue(rstStream(id, H2Code.REFUSED_STREAM));
  }

  /** The peer ended its side while ours is open: the client stops a finished call; the server answers. */
  protected abstract remoteEndedFirst(stream: H2Stream): void;

  /** Our side ended while the peer's is open: the client waits for the response; the server's answer is complete. */
  abstract localEndedFirst(stream: H2Stream): void;

  private onReset(id: number, payload: Buffer): void {
    if (id === 0) throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (payload.length !== 4)
      throw new H2ConnectionError(H2Code.FRAME_SIZE_ERROR, 'RST_STREAM of the wrong size');
    const code = payload.readUInt32BE(0);
    const stream = this.streams.get(id);
    if (stream === undefined) return;
    this.streamResetEarly(stream);
    stream.close({ code, error: undefined, refused: code === H2Code.REFUSED_STREAM });
  }

  /**
   * An open stream ends in a reset, by the peer's RST_STREAM or by ours for its protocol error: its slot
   * under the concurrency limit is free at once while the work it started may go on. The server bounds how
   * often that may happen (rapid reset); may throw `H2ConnectionError`.
   */
  protected streamResetEarly(_stream: H2Stream): void {}

  private onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if ((flags & Flag.ACK) !== 0) {
      if (payload.length !== 0)
        throw new H2ConnectionError(H2Code.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      // Our (only) SETTINGS frame is acknowledged: our stream window applies to the peer from now on.
      if (this.settingsGrace > 0) {
        for (const stream of this.streams.values()) stream.recvWindow -= this.settingsGrace;
        this.settingsGrace = 0;
      }
      return;
    }
    if (payload.length % 6 !== 0)
      throw new H2ConnectionError(H2Code.FRAME_SIZE_ERROR, 'SETTINGS of the wrong size');
    let windowDelta = 0;
    for (let at = 0; at < payload.length; at += 6) {
      const setting = payload.readUInt16BE(at);
      const value = payload.readUInt32BE(at + 2);
      if (setting === Setting.MAX_CONCURRENT_STREAMS) this.peerMaxConcurrent = value;
      else if (setting === Setting.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW_SIZE)
          throw new H2ConnectionError(H2Code.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE too large');
        windowDelta += value - this.peerInitialWindow;
        this.peerInitialWindow = value;
      } else if (setting === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME_SIZE || value > 0xffffff)
          throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, 'invalid SETTINGS_MAX_FRAME_SIZE');
        this.peerMaxFrameSize = value;
      } else if (setting === Setting.ENABLE_PUSH && value > 1) {
        throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, 'invalid SETTINGS_ENABLE_PUSH');
      }
      // HEADER_TABLE_SIZE: our encoder never indexes, so any size suits it. MAX_HEADER_LIST_SIZE: advisory.
    }
    this.queueAnswer(frame(FrameType.SETTINGS, Flag.ACK, 0));
    if (windowDelta !== 0) {
      for (const stream of this.streams.values()) {
        stream.sendWindow += windowDelta;
        if (stream.sendWindow > MAX_WINDOW_SIZE)
          throw new H2ConnectionError(H2Code.FLOW_CONTROL_ERROR, 'a stream window overflowed');
        if (windowDelta > 0) stream.windowGrew();
      }
    }
    this.settingsApplied();
  }

  private onPing(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, 'PING on a stream');
    if (payload.length !== 8) throw new H2ConnectionError(H2Code.FRAME_SIZE_ERROR, 'PING of the wrong size');
    if ((flags & Flag.ACK) === 0) this.queueAnswer(frame(FrameType.PING, Flag.ACK, 0, payload));
  }

  private onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4)
      throw new H2ConnectionError(H2Code.FRAME_SIZE_ERROR, 'WINDOW_UPDATE of the wrong size');
    const increment = payload.readUInt32BE(0) & MAX_WINDOW_SIZE;
    if (id === 0) {
      if (increment === 0) throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW_SIZE)
        throw new H2ConnectionError(H2Code.FLOW_CONTROL_ERROR, 'the connection window overflowed');
      const blocked = [...this.blocked];
      this.blocked.clear();
      for (const stream of blocked) stream.windowGrew();
      return;
    }
    const stream = this.streams.get(id);
    if (stream === undefined) return; // closed meanwhile
    if (increment === 0) return this.streamError(stream, H2Code.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW_SIZE)
      return this.streamError(stream, H2Code.FLOW_CONTROL_ERROR, 'a stream window overflowed');
    stream.windowGrew();
  }

  /** The peer broke the protocol on one stream: reset it and tell whoever owns it. */
  protected streamError(stream: H2Stream, code: number, message: string): void {
    // Resets the peer provokes count as its own (CVE-2025-8671, "MadeYouReset").
    this.streamResetEarly(stream);
    this.sendReset(stream, code);
    stream.close({ code, error: new Error(message), refused: false });
  }

  // -------------------------------------------------------------------------------------- the end

  /** Fail the connection: GOAWAY with `code` (when it can still be written), close, abort every stream. */
  protected fail(error: Error, code: number): void {
    if (this.failure === undefined) {
      if (!this.socket.destroyed && this.socket.writable) {
        this.flush();
        this.socket.write(goaway(this.lastPeerStreamId(), code, error.message.slice(0, 200)));
      }
      this.failure = error;
      this.failed(error);
      this.socket.destroy();
    }
    this.abortStreams(this.failure);
  }

  /** The connection failed (first time): the side stops taking streams. */
  protected abstract failed(error: Error): void;

  /** Abort every stream (and any waiting one) because the connection is gone. */
  protected abortStreams(error: Error): void {
    const abort: H2Abort = { code: H2Code.CONNECT_ERROR, error, refused: false };
    for (const stream of [...this.streams.values()]) stream.close(abort);
  }
}
