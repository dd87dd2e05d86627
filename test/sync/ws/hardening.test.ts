import { randomBytes } from 'node:crypto';
import { type Socket, connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { createClient } from '../../../src/sync/transport.js';
import { CloseCode } from '../../../src/sync/ws/close-codes.js';
import { Fixture, Shop, waitFor } from './support.js';

const fx = new Fixture();
afterEach(() => fx.close());

async function echoServer(options: Parameters<Fixture['server']>[0] = {}) {
  const server = await fx.server(options);
  server.serve(Shop, {
    stock: async ({ sku }) => ({ sku, qty: 1 }),
    place: async ({ orderId }) => ({ orderId, accepted: true, run: 1 }),
    echo: async ({ n }) => ({ n }),
    slow: async ({ tag }) => ({ tag }),
  });
  const url = await server.listen();
  return { server, url };
}

/** Open a `ws` client and resolve with it once open. */
async function open(url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<WebSocket> {
  const ws = new WebSocket(url, options);
  ws.on('error', () => {});
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('close', () => reject(new Error('closed before open')));
  });
  return ws;
}

/** The close code the client observes. */
const closeCode = (ws: WebSocket): Promise<number> => new Promise((resolve) => ws.once('close', (code) => resolve(code)));

/** A raw TCP socket after a WebSocket handshake, for frames `ws` refuses to send. */
async function rawUpgrade(url: string): Promise<{ socket: Socket; received: () => Buffer }> {
  const { hostname, port, pathname } = new URL(url);
  const socket = connect(Number(port), hostname);
  const chunks: Buffer[] = [];
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(
    `GET ${pathname} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  await new Promise<void>((resolve) => {
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      chunks.length = 0;
      if (end + 4 < all.length) chunks.push(all.subarray(end + 4));
      expect(all.subarray(0, 12).toString()).toBe('HTTP/1.1 101');
      resolve();
    };
    socket.on('data', onData);
  });
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  return { socket, received: () => Buffer.concat(chunks) };
}

/** A masked client frame. */
function frame(opcode: number, payload: Buffer, fin = true): Buffer {
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  if (payload.length >= 126) throw new Error('short frames only');
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | payload.length]), mask, masked]);
}

/** The status code of the first close frame in `bytes`, if any. */
function closeFrameCode(bytes: Buffer): number | undefined {
  let i = 0;
  while (i + 2 <= bytes.length) {
    const opcode = bytes[i]! & 0x0f;
    let len = bytes[i + 1]! & 0x7f;
    let at = i + 2;
    if (len === 126) {
      len = bytes.readUInt16BE(at);
      at += 2;
    } else if (len === 127) {
      len = Number(bytes.readBigUInt64BE(at));
      at += 8;
    }
    if (opcode === 0x8) return len >= 2 ? bytes.readUInt16BE(at) : 1005;
    i = at + len;
  }
  return undefined;
}

describe('ws close codes', () => {
  it('1009 for a message larger than maxPayloadBytes', async () => {
    const { url } = await echoServer({ maxPayloadBytes: 1024 });
    const ws = await open(url);
    const code = closeCode(ws);
    ws.send(JSON.stringify({ t: 'call', id: 1, op: 'shop.echo', in: { n: 1, pad: 'x'.repeat(2000) } }));
    expect(await code).toBe(CloseCode.messageTooBig);
  });

  it('1007 for a text frame that is not valid UTF-8', async () => {
    const { url } = await echoServer();
    const ws = await open(url);
    const code = closeCode(ws);
    // `binary: false` sends the bytes as a text frame, unchecked.
    ws.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false });
    expect(await code).toBe(CloseCode.invalidPayload);
  });

  it('1002 for a frame that breaks RFC 6455 (reserved opcode), sent on a raw socket', async () => {
    const { url } = await echoServer();
    const { socket, received } = await rawUpgrade(url);
    socket.write(frame(0x3, Buffer.from('hello')));
    await waitFor(() => closeFrameCode(received()) !== undefined, 'a close frame');
    expect(closeFrameCode(received())).toBe(CloseCode.protocolError);
    socket.destroy();
  });

  it('1008 for text that is not a Courier frame: not JSON, an unknown type, a bad field', async () => {
    const { url } = await echoServer();
    for (const text of ['not json', '[1,2]', '{"t":"hello"}', '{"t":"call","id":-1,"op":"shop.echo"}', '{"t":"ack","sid":"s"}']) {
      const ws = await open(url);
      const code = closeCode(ws);
      ws.send(text);
      expect(await code, text).toBe(CloseCode.policyViolation);
    }
  });

  it('1008 for a call id reused while in flight', async () => {
    const server = await fx.server();
    server.serve(Shop, {
      stock: async ({ sku }) => ({ sku, qty: 1 }),
      place: async ({ orderId }) => ({ orderId, accepted: true, run: 1 }),
      echo: async ({ n }) => ({ n }),
      slow: () => new Promise(() => {}),
    });
    const url = await server.listen();
    const ws = await open(url);
    const code = closeCode(ws);
    ws.send(JSON.stringify({ t: 'call', id: 5, op: 'shop.slow', in: { tag: 'a' } }));
    ws.send(JSON.stringify({ t: 'call', id: 5, op: 'shop.slow', in: { tag: 'b' } }));
    expect(await code).toBe(CloseCode.policyViolation);
  });

  it('1003 for a binary message', async () => {
    const { url } = await echoServer();
    const ws = await open(url);
    const code = closeCode(ws);
    ws.send(Buffer.from('{"t":"call"}'), { binary: true });
    expect(await code).toBe(CloseCode.unsupportedData);
  });

  it('a forbidden key in a call input is refused for that call, not the connection', async () => {
    const { url } = await echoServer();
    const ws = await open(url);
    const answers: any[] = [];
    ws.on('message', (d) => answers.push(JSON.parse((d as Buffer).toString('utf8'))));
    ws.send('{"t":"call","id":1,"op":"shop.echo","in":{"n":1,"__proto__":{"admin":true}}}');
    ws.send('{"t":"call","id":2,"op":"shop.echo","in":{"n":2}}');
    await waitFor(() => answers.length === 2, 'both answers');
    expect(answers[0]).toMatchObject({ t: 'err', id: 1, err: { code: 'BAD_REQUEST', details: { reason: 'forbidden-key' } } });
    expect(answers[1]).toEqual({ t: 'res', id: 2, out: { n: 2 } });
    ws.close();
  });

  it('keeps serving other connections while bad clients are cut off', async () => {
    const { server, url } = await echoServer({ maxPayloadBytes: 4096 });
    const transport = fx.client(url);
    const shop = createClient(Shop, transport);
    expect(await shop.echo({ n: 1 })).toEqual({ n: 1 });
    const bad = await Promise.all([open(url), open(url), open(url)]);
    const codes = bad.map(closeCode);
    bad[0].send('x'.repeat(10_000));
    bad[1].send(Buffer.from([0xc3, 0x28]), { binary: false });
    bad[2].send('{"t":"nope"}');
    expect(await Promise.all(codes)).toEqual([1009, 1007, 1008]);
    const { socket } = await rawUpgrade(url);
    socket.write(Buffer.from([0x81, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f])); // unmasked client frame: 1002
    await new Promise((resolve) => socket.once('close', resolve));
    // The good client's connection was never touched.
    expect(await shop.echo({ n: 2 })).toEqual({ n: 2 });
    expect(transport.connections).toBe(1);
    await waitFor(() => server.stats().connections === 1, 'only the good connection left');
  });
});

describe('ws heartbeat', () => {
  it('the server detects a peer that stopped answering pings and closes its socket', async () => {
    const { server, url } = await echoServer({ heartbeatMs: 50 });
    const healthy = fx.client(url, { heartbeatMs: 0 });
    expect(await createClient(Shop, healthy).echo({ n: 1 })).toEqual({ n: 1 });
    const dead = await open(url, { autoPong: false }); // alive TCP, silent peer
    await waitFor(() => server.stats().connections === 2, 'both connected');
    const code = await closeCode(dead);
    expect(code).toBe(CloseCode.abnormal); // terminated: no closing handshake with a dead peer
    await waitFor(() => server.stats().connections === 1, 'the dead peer dropped');
    // A peer that answers pings (ws does by itself) stays.
    expect(healthy.isOpen).toBe(true);
    expect(healthy.connections).toBe(1);
  });

  it('the client detects a server that stopped answering and reconnects', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, autoPong: false });
    await new Promise((resolve) => wss.once('listening', resolve));
    const port = (wss.address() as { port: number }).port;
    let accepted = 0;
    wss.on('connection', () => accepted++);
    try {
      const client = fx.client(`ws://127.0.0.1:${port}/`, { heartbeatMs: 50, reconnect: { baseMs: 1, maxMs: 5 } });
      await client.connect();
      // A subscription makes the client reconnect eagerly (an idle one would wait for its next call).
      client.subscribe([Shop.events.OrderPlaced], () => {}).catch(() => {});
      await waitFor(() => client.connections >= 2, 'a reconnect after the dead server was detected');
      expect(accepted).toBeGreaterThanOrEqual(2);
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise((resolve) => wss.close(resolve));
    }
  });
});
