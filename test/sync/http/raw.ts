import { type Socket, connect } from 'node:net';

/** A raw HTTP/1.1 exchange over a socket: for requests no well-behaved client would send. */
export interface RawResponse {
  readonly status: number;
  /** Lower-cased header names; repeated headers joined with ', '. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  json(): any;
}

/** A socket to `port` with the bytes it received, parsed into a response as soon as one is complete. */
export class RawConnection {
  readonly socket: Socket;
  /** True once the server closed or reset the connection. */
  closed = false;
  private received = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  readonly connected: Promise<void>;

  constructor(port: number) {
    this.socket = connect({ host: '127.0.0.1', port });
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
    this.socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.wake();
    });
    this.socket.on('error', () => {
      // A reset after the server answered and closed: `closed` says it.
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static async open(port: number): Promise<RawConnection> {
    const connection = new RawConnection(port);
    await connection.connected;
    return connection;
  }

  /** Write bytes; resolves false (instead of throwing) when the server has already closed the connection. */
  write(data: string | Buffer): Promise<boolean> {
    if (this.closed || this.socket.destroyed || !this.socket.writable) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.socket.write(data, (error) => resolve(error === undefined || error === null));
    });
  }

  /** The first complete response (headers and Content-Length body, or everything up to the close). */
  async response(): Promise<RawResponse> {
    for (;;) {
      const parsed = parse(this.received, this.closed);
      if (parsed !== undefined) return parsed;
      if (this.closed) throw new Error(`connection closed without a response (${this.received.length} bytes received)`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Resolves when the server has closed the connection. */
  async whenClosed(): Promise<void> {
    while (!this.closed) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

function parse(buffer: Buffer, closed: boolean): RawResponse | undefined {
  const end = buffer.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = buffer.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '')?.[1]);
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  const length = headers['content-length'];
  const bodyStart = end + 4;
  let body: Buffer;
  if (length !== undefined) {
    if (buffer.length < bodyStart + Number(length)) return undefined;
    body = buffer.subarray(bodyStart, bodyStart + Number(length));
  } else if (status === 204 || status === 304) {
    body = Buffer.alloc(0);
  } else {
    if (!closed) return undefined;
    body = buffer.subarray(bodyStart);
  }
  const text = body.toString('utf8');
  return { status, headers, body: text, json: () => JSON.parse(text) };
}

/** One request on a fresh connection; the connection is destroyed afterwards. */
export async function rawRequest(port: number, request: string | Buffer): Promise<RawResponse & { closedByServer: boolean }> {
  const connection = await RawConnection.open(port);
  try {
    await connection.write(request);
    const response = await connection.response();
    return { ...response, closedByServer: connection.closed };
  } finally {
    connection.destroy();
  }
}

/** The request head for a JSON body (Content-Length of `body`), plus any extra header lines. */
export function jsonRequest(method: string, path: string, body: string | Buffer, extra: readonly string[] = []): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const head =
    `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${bytes.length}\r\n${extra.map((h) => `${h}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), bytes]);
}
