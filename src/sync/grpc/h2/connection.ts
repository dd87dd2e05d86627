import { type Socket, connect as netConnect } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import {
  CLIENT_PREFACE,
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
import { type H2Abort, H2Stream, type H2StreamEvents, type StreamHost } from './stream.js';

/**
 * Courier's own HTTP/2 client connection on a plain TCP (or TLS, ALPN `h2`) socket: what the gRPC client
 * runs on instead of `node:http2`.
 *
 * Why not `node:http2`: at 64 unary calls in flight its per-stream machinery (a Duplex stream object per
 * request, header objects converted both ways, an `AsyncResource.bind` per request, events per frame) cost
 * more CPU per call than the whole HTTP/1.1 path through undici, which made gRPC slower than JSON over
 * HTTP/1.1 on the same machine. Here a stream is one small object with four callbacks; a unary call is one
 * HEADERS and one DATA frame written together, and its response is decoded straight from the socket chunk.
 *
 * What it implements (RFC 9113, client side): the preface and SETTINGS exchange (push disabled, our receive
 * windows, the peer's concurrency, window and frame-size limits honoured), HPACK (`hpack.ts`; requests never
 * use the dynamic table, responses are decoded with it), HEADERS + CONTINUATION, DATA with padding, flow
 * control both ways (`stream.ts`), RST_STREAM, PING answered, GOAWAY (streams above its last id are refused:
 * retryable), WINDOW_UPDATE, and connection errors (GOAWAY with the code, then close). Not implemented:
 * server push (refused in SETTINGS), priorities (ignored, as RFC 9113 allows), `CONNECT`.
 *
 * Writing: frames are collected and written once per tick (`process.nextTick`), so the calls a burst of
 * responses starts leave in one socket write. Streams above the peer's SETTINGS_MAX_CONCURRENT_STREAMS wait
 * in order. While no stream is open the socket is unref'd: an idle client does not keep the process alive.
 */
export interface H2ConnectionOptions {
  /** TLS options for an `https:` target (ALPN `h2` is always requested). */
  readonly tls?: ConnectionOptions;
  /** Our receive window per stream (SETTINGS_INITIAL_WINDOW_SIZE). Default 1 MiB. */
  readonly streamWindowSize?: number;
  /** Our receive window for the whole connection. Default 8 MiB. */
  readonly connectionWindowSize?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE: the largest response header list accepted. Default 64 KiB. */
  readonly maxHeaderListSize?: number;
}

const MAX_STREAM_ID = 0x7fffffff;

interface PendingBlock {
  readonly streamId: number;
  readonly endStream: boolean;
  readonly chunks: Buffer[];
  size: number;
}

interface Waiting {
  readonly stream: H2Stream;
  readonly block: Buffer;
  readonly endStream: boolean;
}

export class H2Connection implements StreamHost {
  /** False once no new stream may be opened here (GOAWAY, failure, close, ids exhausted). */
  usable = true;
  /** True once the socket connected: a stream that failed before that never reached the server. */
  connected = false;
  readonly closed: Promise<void>;
  private readonly socket: Socket;
  private readonly parser: FrameParser;
  private readonly decoder: HpackDecoder;
  private readonly streamWindowSize: number;
  private readonly connectionWindowSize: number;
  private readonly streams = new Map<number, H2Stream>();
  private readonly waiting: Waiting[] = [];
  /** Streams with data held back only by the connection's send window. */
  private readonly blocked = new Set<H2Stream>();
  private nextStreamId = 1;
  private peerMaxConcurrent = Infinity;
  private peerInitialWindow = DEFAULT_WINDOW_SIZE;
  private peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  private sendWindow = DEFAULT_WINDOW_SIZE;
  private recvWindow: number;
  private recvUnreturned = 0;
  private block: PendingBlock | undefined;
  private out: Buffer[] = [];
  private outBytes = 0;
  private flushScheduled = false;
  private referenced = false;
  private failure: Error | undefined;
  private goingAway = false;
  private readonly flushOut = (): void => this.flush();

  constructor(
    target: URL,
    options: H2ConnectionOptions = {},
    /** Called once when the connection stops taking new streams. */
    private readonly onUnusable: () => void = () => {},
  ) {
    this.streamWindowSize = options.streamWindowSize ?? 1024 * 1024;
    this.connectionWindowSize = options.connectionWindowSize ?? 8 * 1024 * 1024;
    this.recvWindow = this.connectionWindowSize;
    this.decoder = new HpackDecoder({ maxHeaderListSize: options.maxHeaderListSize ?? 64 * 1024 });
    this.parser = new FrameParser(DEFAULT_MAX_FRAME_SIZE, (type, flags, id, payload) =>
      this.onFrame(type, flags, id, payload),
    );
    const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
    const host = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
    if (target.protocol === 'https:') {
      this.socket = tlsConnect({ servername: host, ...options.tls, host, port, ALPNProtocols: ['h2'] });
      this.socket.once('secureConnect', () => {
        const alpn = (this.socket as Socket & { alpnProtocol?: string | false }).alpnProtocol;
        if (alpn !== 'h2')
          this.fail(
            new Error(`the server did not agree to HTTP/2 (ALPN ${String(alpn)})`),
            H2Code.INADEQUATE_SECURITY,
          );
        else this.connected = true;
      });
    } else {
      this.socket = netConnect({ host, port });
      this.socket.once('connect', () => (this.connected = true));
    }
    this.socket.setNoDelay(true);
    this.socket.unref();
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
    this.socket.on('data', (chunk: Buffer) => this.onSocketData(chunk));
    this.socket.on('error', (error) => this.fail(error, H2Code.CONNECT_ERROR));
    this.socket.on('close', () => this.fail(new Error('the HTTP/2 connection closed'), H2Code.CONNECT_ERROR));
    this.queue(CLIENT_PREFACE);
    this.queue(
      settingsFrame([
        [Setting.ENABLE_PUSH, 0],
        [Setting.INITIAL_WINDOW_SIZE, this.streamWindowSize],
        [Setting.MAX_HEADER_LIST_SIZE, options.maxHeaderListSize ?? 64 * 1024],
      ]),
    );
    if (this.connectionWindowSize > DEFAULT_WINDOW_SIZE)
      this.queue(windowUpdate(0, this.connectionWindowSize - DEFAULT_WINDOW_SIZE));
  }

  /** Streams open or waiting for a slot. */
  get load(): number {
    return this.streams.size + this.waiting.length;
  }

  /**
   * Open a stream with the request header block `block` (HPACK, `HpackEncoder`). The stream may wait for a
   * concurrency slot; writes made meanwhile are kept. Throws when the connection is not usable.
   */
  open(block: Buffer, endStream: boolean, events: H2StreamEvents): H2Stream {
    if (!this.usable) throw this.failure ?? new Error('the HTTP/2 connection takes no new streams');
    const stream = new H2Stream(this, events, this.peerInitialWindow, this.streamWindowSize);
    if (this.streams.size >= this.peerMaxConcurrent) this.waiting.push({ stream, block, endStream });
    else this.start(stream, block, endStream);
    this.updateRef();
    return stream;
  }

  /** Stop taking streams; let the open ones finish, then say GOAWAY and close the socket. */
  close(): Promise<void> {
    this.markUnusable();
    this.goingAway = true;
    if (this.load === 0) this.finishClose();
    return this.closed;
  }

  /** Close at once: every open stream is aborted with `error`. */
  destroy(error: Error = new Error('the HTTP/2 connection was closed')): void {
    this.fail(error, H2Code.CANCEL);
  }

  // ---------------------------------------------------------------------------------- StreamHost

  sendHeaders(stream: H2Stream, block: Buffer, endStream: boolean): void {
    const max = this.peerMaxFrameSize;
    const end = endStream ? Flag.END_STREAM : 0;
    if (block.length <= max) {
      this.queueFrameHeader(block.length, FrameType.HEADERS, Flag.END_HEADERS | end, stream.id);
      this.queue(block);
      return;
    }
    this.queueFrameHeader(max, FrameType.HEADERS, end, stream.id);
    this.queue(block.subarray(0, max));
    for (let at = max; at < block.length; at += max) {
      const part = block.subarray(at, Math.min(block.length, at + max));
      this.queueFrameHeader(
        part.length,
        FrameType.CONTINUATION,
        at + max >= block.length ? Flag.END_HEADERS : 0,
        stream.id,
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
      const last = whole && queued.length === 1 && stream.endQueued;
      this.queueFrameHeader(n, FrameType.DATA, last ? Flag.END_STREAM : 0, stream.id);
      this.queue(whole ? chunk : chunk.subarray(0, n));
      stream.sendWindow -= n;
      this.sendWindow -= n;
      stream.queuedBytes -= n;
      if (whole) queued.shift();
      else queued[0] = chunk.subarray(n);
      if (last) return this.endedLocally(stream);
    }
    if (stream.endQueued) {
      this.queueFrameHeader(0, FrameType.DATA, Flag.END_STREAM, stream.id);
      this.endedLocally(stream);
    }
  }

  sendReset(stream: H2Stream, code: number): void {
    if (stream.id !== 0) this.queue(rstStream(stream.id, code));
  }

  sendWindowUpdate(streamId: number, increment: number): void {
    this.queue(windowUpdate(streamId, increment));
  }

  streamClosed(stream: H2Stream): void {
    this.blocked.delete(stream);
    if (stream.id === 0) {
      const at = this.waiting.findIndex((w) => w.stream === stream);
      if (at >= 0) this.waiting.splice(at, 1);
    } else {
      this.streams.delete(stream.id);
      this.startWaiting();
    }
    this.updateRef();
    if (this.goingAway && this.load === 0) this.finishClose();
  }

  // -------------------------------------------------------------------------------------- sending

  private start(stream: H2Stream, block: Buffer, endStream: boolean): void {
    stream.id = this.nextStreamId;
    this.nextStreamId += 2;
    this.streams.set(stream.id, stream);
    if (this.nextStreamId > MAX_STREAM_ID) this.markUnusable(); // ids run out: a new connection takes over
    this.sendHeaders(stream, block, endStream);
    if (endStream) this.endedLocally(stream);
    else if (stream.queued.length > 0 || stream.endQueued) this.flushData(stream);
  }

  private startWaiting(): void {
    while (this.waiting.length > 0 && this.streams.size < this.peerMaxConcurrent && this.usable) {
      const { stream, block, endStream } = this.waiting.shift()!;
      this.start(stream, block, endStream);
    }
  }

  private endedLocally(stream: H2Stream): void {
    stream.localEnded = true;
    stream.endQueued = false;
    if (stream.remoteEnded) stream.close();
  }

  private queueFrameHeader(length: number, type: number, flags: number, streamId: number): void {
    const header = Buffer.allocUnsafe(FRAME_HEADER_LENGTH);
    writeFrameHeader(header, 0, length, type, flags, streamId);
    this.queue(header);
  }

  private queue(bytes: Buffer): void {
    if (this.failure !== undefined) return;
    this.out.push(bytes);
    this.outBytes += bytes.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flushOut);
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outBytes === 0 || this.failure !== undefined) return;
    const out = this.out;
    const bytes = out.length === 1 ? out[0]! : Buffer.concat(out, this.outBytes);
    this.out = [];
    this.outBytes = 0;
    this.socket.write(bytes);
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
        return this.onGoaway(id, payload);
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
      if (id % 2 === 1 && id < this.nextStreamId) return; // a stream we already closed (reset): ignore
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
      const pad = payload[0] ?? 0;
      start = 1;
      end -= pad;
    }
    if ((flags & Flag.PRIORITY) !== 0) start += 5;
    if (end < start) throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, 'HEADERS padding exceeds the frame');
    const fragment = payload.subarray(start, end);
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if ((flags & Flag.END_HEADERS) !== 0) this.headerBlock(id, endStream, fragment);
    else this.block = { streamId: id, endStream, chunks: [fragment], size: fragment.length };
  }

  private onContinuation(flags: number, id: number, payload: Buffer): void {
    const block = this.block;
    if (block === undefined || block.streamId !== id)
      throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, 'CONTINUATION without HEADERS');
    block.chunks.push(payload);
    block.size += payload.length;
    if (block.size > 4 * 1024 * 1024)
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
      throw error;
    }
    if (stream === undefined) {
      if (id % 2 === 1 && id < this.nextStreamId) return;
      throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, `HEADERS on idle stream ${id}`);
    }
    if (stream.remoteEnded)
      return this.streamError(stream, H2Code.STREAM_CLOSED, `HEADERS on closed stream ${id}`);
    // An informational (1xx) response is skipped; the final one follows.
    if (!stream.headersSeen && !endStream && fields[0] === ':status' && fields[1]!.startsWith('1')) return;
    stream.headersSeen = true;
    if (endStream) stream.remoteEnded = true;
    stream.events.onHeaders(fields, endStream);
    if (endStream) this.endedRemotely(stream);
  }

  private endedRemotely(stream: H2Stream): void {
    if (stream.closed) return;
    stream.remoteEnded = true;
    if (stream.localEnded) {
      stream.close();
      return;
    }
    // The response is complete while we still had something to send: the call is over, stop sending.
    stream.reset(H2Code.NO_ERROR);
  }

  private onReset(id: number, payload: Buffer): void {
    if (id === 0) throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (payload.length !== 4)
      throw new H2ConnectionError(H2Code.FRAME_SIZE_ERROR, 'RST_STREAM of the wrong size');
    const code = payload.readUInt32BE(0);
    this.streams.get(id)?.close({ code, error: undefined, refused: code === H2Code.REFUSED_STREAM });
  }

  private onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if ((flags & Flag.ACK) !== 0) {
      if (payload.length !== 0)
        throw new H2ConnectionError(H2Code.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
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
    this.queue(frame(FrameType.SETTINGS, Flag.ACK, 0));
    if (windowDelta !== 0) {
      for (const stream of this.streams.values()) {
        stream.sendWindow += windowDelta;
        if (stream.sendWindow > MAX_WINDOW_SIZE)
          throw new H2ConnectionError(H2Code.FLOW_CONTROL_ERROR, 'a stream window overflowed');
        if (windowDelta > 0) stream.windowGrew();
      }
    }
    this.startWaiting();
  }

  private onPing(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, 'PING on a stream');
    if (payload.length !== 8) throw new H2ConnectionError(H2Code.FRAME_SIZE_ERROR, 'PING of the wrong size');
    if ((flags & Flag.ACK) === 0) this.queue(frame(FrameType.PING, Flag.ACK, 0, payload));
  }

  private onGoaway(id: number, payload: Buffer): void {
    if (id !== 0) throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, 'GOAWAY on a stream');
    if (payload.length < 8) throw new H2ConnectionError(H2Code.FRAME_SIZE_ERROR, 'GOAWAY too short');
    const lastStreamId = payload.readUInt32BE(0) & MAX_STREAM_ID;
    this.markUnusable();
    this.goingAway = true;
    const refused: H2Abort = { code: H2Code.REFUSED_STREAM, error: undefined, refused: true };
    for (const w of this.waiting.splice(0)) w.stream.close(refused);
    for (const stream of [...this.streams.values()]) {
      if (stream.id > lastStreamId) stream.close(refused);
    }
    if (this.load === 0) this.finishClose();
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

  /** The peer broke the protocol on one stream: reset it and tell its caller. */
  private streamError(stream: H2Stream, code: number, message: string): void {
    this.sendReset(stream, code);
    stream.close({ code, error: new Error(message), refused: false });
  }

  // -------------------------------------------------------------------------------------- the end

  private markUnusable(): void {
    if (!this.usable) return;
    this.usable = false;
    this.onUnusable();
  }

  private updateRef(): void {
    const busy = this.load > 0;
    if (busy === this.referenced) return;
    this.referenced = busy;
    if (busy) this.socket.ref();
    else this.socket.unref();
  }

  private finishClose(): void {
    if (this.failure !== undefined) return;
    this.queue(goaway(0, H2Code.NO_ERROR));
    this.flush();
    this.failure = new Error('the HTTP/2 connection was closed');
    this.socket.end();
  }

  /** Fail the connection: GOAWAY with `code` (when it can still be written), close, abort every stream. */
  private fail(error: Error, code: number): void {
    if (this.failure !== undefined) {
      this.abortAll(this.failure);
      return;
    }
    if (!this.socket.destroyed && this.connected) {
      this.flush();
      this.socket.write(goaway(0, code, error.message.slice(0, 200)));
    }
    this.failure = error;
    this.markUnusable();
    this.socket.destroy();
    this.abortAll(error);
  }

  private abortAll(error: Error): void {
    const notSent: H2Abort = { code: H2Code.CONNECT_ERROR, error, refused: true };
    const sent: H2Abort = { code: H2Code.CONNECT_ERROR, error, refused: !this.connected };
    for (const w of this.waiting.splice(0)) w.stream.close(notSent);
    for (const stream of [...this.streams.values()]) stream.close(sent);
  }
}
