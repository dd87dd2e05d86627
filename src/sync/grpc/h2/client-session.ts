import { type Socket, isIP, connect as netConnect } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { CLIENT_PREFACE, H2Code, H2ConnectionError, Setting } from './frames.js';
import { H2Session, type H2SessionOptions } from './session.js';
import { type H2Abort, H2Stream, type H2StreamEvents } from './stream.js';

/**
 * Courier's own HTTP/2 client connection on a plain TCP (or TLS, ALPN `h2`) socket: what the gRPC client
 * runs on instead of `node:http2`. The framing, HPACK and flow control are `H2Session`'s; this side opens
 * streams (odd ids, in sending order), queues those above the server's SETTINGS_MAX_CONCURRENT_STREAMS in
 * order, disables server push, and treats a GOAWAY as "no new streams here": streams above its last id are
 * refused (retryable: the server never processed them), the others finish. Streams wait for the server's
 * first SETTINGS before they are sent (as grpc-go's client does): sent earlier, those above its concurrency
 * limit would be refused (nghttp2 refuses by the limit it announced, even before its ACK), which costs a
 * fresh connection's first calls one round trip. When the response ends while our
 * request is still open, the stream is reset with NO_ERROR (the call is over). While no stream is open the
 * socket is unref'd, so an idle client does not keep the process alive.
 */
export interface H2ClientOptions extends H2SessionOptions {
  /** TLS options for an `https:` target (ALPN `h2` is always requested). */
  readonly tls?: ConnectionOptions;
}

const MAX_STREAM_ID = 0x7fffffff;

interface Waiting {
  readonly stream: H2Stream;
  readonly block: Buffer;
  readonly endStream: boolean;
}

export class H2ClientSession extends H2Session {
  /** False once no new stream may be opened here (GOAWAY, failure, close, ids exhausted). */
  usable = true;
  /** True once the socket connected: a stream that failed before that never reached the server. */
  connected = false;
  private readonly waiting: Waiting[] = [];
  private nextStreamId = 1;
  private referenced = false;
  private goingAway = false;
  /** The server's SETTINGS (its concurrency limit, windows, frame size) arrived. */
  private settingsSeen = false;

  constructor(
    target: URL,
    options: H2ClientOptions = {},
    /** Called once when the connection stops taking new streams. */
    private readonly onUnusable: () => void = () => {},
  ) {
    const socket = connectTo(target, options.tls);
    super(socket, options, [[Setting.ENABLE_PUSH, 0]], { send: CLIENT_PREFACE });
    if (target.protocol === 'https:') {
      socket.once('secureConnect', () => {
        const alpn = (socket as Socket & { alpnProtocol?: string | false }).alpnProtocol;
        if (alpn === 'h2') this.connected = true;
        else
          this.fail(
            new H2ConnectionError(
              H2Code.INADEQUATE_SECURITY,
              `the server did not agree to HTTP/2 (ALPN ${String(alpn)})`,
            ),
            H2Code.INADEQUATE_SECURITY,
          );
      });
    } else {
      socket.once('connect', () => (this.connected = true));
    }
    socket.unref();
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
    if (!this.settingsSeen || this.streams.size >= this.peerMaxConcurrent)
      this.waiting.push({ stream, block, endStream });
    else this.start(stream, block, endStream);
    this.updateRef();
    return stream;
  }

  /** Stop taking streams; let the open ones finish, then say GOAWAY and close the socket. */
  close(): Promise<void> {
    this.markUnusable();
    this.goingAway = true;
    if (this.load === 0) this.goawayAndEnd(0);
    return this.closed;
  }

  // ------------------------------------------------------------------------------------ H2Session

  protected unknownStreamHeaders(id: number): void {
    if (this.wasOpened(id)) return; // a stream we reset: its late headers were decoded, nothing else
    throw new H2ConnectionError(H2Code.PROTOCOL_ERROR, `HEADERS on idle stream ${id}`);
  }

  protected wasOpened(id: number): boolean {
    return id % 2 === 1 && id < this.nextStreamId;
  }

  protected remoteEndedFirst(stream: H2Stream): void {
    stream.reset(H2Code.NO_ERROR);
  }

  localEndedFirst(): void {
    // The request is sent; the response follows.
  }

  protected afterStreamClosed(stream: H2Stream): void {
    if (stream.id === 0) {
      const at = this.waiting.findIndex((w) => w.stream === stream);
      if (at >= 0) this.waiting.splice(at, 1);
    } else {
      this.startWaiting();
    }
    this.updateRef();
    if (this.goingAway && this.load === 0) this.goawayAndEnd(0);
  }

  protected override settingsApplied(): void {
    this.settingsSeen = true;
    this.startWaiting();
  }

  protected onGoaway(lastStreamId: number): void {
    this.markUnusable();
    this.goingAway = true;
    const refused: H2Abort = { code: H2Code.REFUSED_STREAM, error: undefined, refused: true };
    for (const w of this.waiting.splice(0)) w.stream.close(refused);
    for (const stream of [...this.streams.values()]) {
      if (stream.id > lastStreamId) stream.close(refused);
    }
    if (this.load === 0) this.goawayAndEnd(0);
  }

  protected failed(): void {
    this.markUnusable();
  }

  protected override abortStreams(error: Error): void {
    const notSent: H2Abort = { code: H2Code.CONNECT_ERROR, error, refused: true };
    const sent: H2Abort = { code: H2Code.CONNECT_ERROR, error, refused: !this.connected };
    for (const w of this.waiting.splice(0)) w.stream.close(notSent);
    for (const stream of [...this.streams.values()]) stream.close(sent);
  }

  // ---------------------------------------------------------------------------------------- own

  private start(stream: H2Stream, block: Buffer, endStream: boolean): void {
    stream.id = this.nextStreamId;
    this.nextStreamId += 2;
    // Nothing was sent yet: the window is the peer's initial window now (a stream that waited for a slot or
    // for the server's SETTINGS would otherwise keep the one from when it was made, e.g. the default 65,535).
    stream.sendWindow = this.peerInitialWindow;
    this.addStream(stream);
    if (this.nextStreamId > MAX_STREAM_ID) this.markUnusable(); // ids run out: a new connection takes over
    this.sendHeaders(stream, block, endStream);
    if (endStream) stream.endedLocally();
    else if (stream.queued.length > 0 || stream.endQueued) this.flushData(stream);
  }

  /**
   * Start waiting streams as slots allow. Not `usable` is no reason to hold them: `close()` makes the
   * connection unusable for new streams, but those already accepted must still run (GOAWAY and failure drop
   * the waiting ones themselves). Only running out of stream ids stops them.
   */
  private startWaiting(): void {
    while (
      this.waiting.length > 0 &&
      this.streams.size < this.peerMaxConcurrent &&
      this.failure === undefined &&
      this.nextStreamId <= MAX_STREAM_ID
    ) {
      const { stream, block, endStream } = this.waiting.shift()!;
      this.start(stream, block, endStream);
    }
    if (this.nextStreamId > MAX_STREAM_ID) {
      // No ids left here: the server never saw these, a new connection can take them (retryable).
      const refused: H2Abort = { code: H2Code.REFUSED_STREAM, error: undefined, refused: true };
      for (const w of this.waiting.splice(0)) w.stream.close(refused);
    }
  }

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
}

function connectTo(target: URL, tls: ConnectionOptions | undefined): Socket {
  const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
  const host = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
  if (target.protocol === 'https:') {
    return tlsConnect({
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ...tls,
      host,
      port,
      ALPNProtocols: ['h2'],
    });
  }
  return netConnect({ host, port });
}
