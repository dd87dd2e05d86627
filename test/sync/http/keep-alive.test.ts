import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { query, service } from '../../../src/core/contract.js';
import { WebSocket, WebSocketServer } from 'ws';
import { httpServer } from '../../../src/sync/http/index.js';

const Slow = service('slow', {
  queries: { wait: query({ input: z.object({ ms: z.coerce.number().int() }), output: z.object({ waited: z.number() }) }) },
});

async function serve(keepAliveTimeoutMs: number, before?: (server: ReturnType<typeof httpServer>) => void) {
  const server = httpServer({ limits: { keepAliveTimeoutMs } });
  server.serve(Slow, { wait: ({ ms }) => new Promise((resolve) => setTimeout(() => resolve({ waited: ms }), ms)) });
  before?.(server);
  const url = new URL(await server.listen());
  return { server, port: Number(url.port) };
}

/** Send one keep-alive GET on `socket` and wait for its whole response. */
async function get(socket: Socket, ms: number): Promise<string> {
  let text = '';
  const done = new Promise<string>((resolve) => {
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const head = text.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(text);
      if (head >= 0 && length !== null && text.length >= head + 4 + Number(length[1])) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
  });
  socket.write(`GET /slow/wait?ms=${ms} HTTP/1.1\r\nhost: localhost\r\n\r\n`);
  return done;
}

async function open(port: number): Promise<{ socket: Socket; closedAt: Promise<number> }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const closedAt = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
  return { socket, closedAt };
}

describe('HTTP server: idle keep-alive connections', () => {
  it('closes a connection idle for the keep-alive timeout, not before it and not long after', async () => {
    const { server, port } = await serve(150);
    try {
      const { socket, closedAt } = await open(port);
      expect(await get(socket, 0)).toMatch(/^HTTP\/1\.1 200 /);
      const idleFrom = Date.now();
      const closed = await closedAt;
      expect(closed - idleFrom).toBeGreaterThanOrEqual(140); // timers may fire a few ms early
      expect(closed - idleFrom).toBeLessThan(2_000);
    } finally {
      await server.close();
    }
  }, 10_000);

  it('never closes a connection whose response is still being produced, and closes it once idle after', async () => {
    const { server, port } = await serve(100);
    try {
      const { socket, closedAt } = await open(port);
      let closedEarly = false;
      void closedAt.then(() => (closedEarly = true));
      // The handler takes four sweep periods: the connection must survive them all.
      const answer = await get(socket, 450);
      expect(closedEarly).toBe(false);
      expect(answer).toMatch(/"waited":450/);
      // Busy with a second request, then idle: closed in the end.
      expect(await get(socket, 0)).toMatch(/^HTTP\/1\.1 200 /);
      await closedAt;
    } finally {
      await server.close();
    }
  }, 10_000);

  it('keeps idle connections open with a keep-alive timeout of 0', async () => {
    const { server, port } = await serve(0);
    const { socket, closedAt } = await open(port);
    try {
      expect(await get(socket, 0)).toMatch(/^HTTP\/1\.1 200 /);
      const outcome = await Promise.race([closedAt.then(() => 'closed'), new Promise((r) => setTimeout(() => r('open'), 400))]);
      expect(outcome).toBe('open');
      expect(await get(socket, 0)).toMatch(/^HTTP\/1\.1 200 /);
    } finally {
      socket.destroy();
      await server.close();
    }
  }, 10_000);

  it('leaves alone a socket a WebSocket server on the same port took over, and still sweeps HTTP ones', async () => {
    const { server, port } = await serve(100);
    const wss = new WebSocketServer({ server: server.app.server });
    wss.on('connection', (ws) => ws.on('message', (data: Buffer) => ws.send(`echo ${data.toString()}`)));
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    try {
      await once(ws, 'open');
      let closed = false;
      ws.once('close', () => (closed = true));
      await new Promise((resolve) => setTimeout(resolve, 450)); // four sweep periods
      expect(closed).toBe(false);
      ws.send('hi');
      const [reply] = (await once(ws, 'message')) as [Buffer];
      expect(String(reply)).toBe('echo hi');
      // An HTTP connection beside it is still closed when idle.
      const { socket, closedAt } = await open(port);
      expect(await get(socket, 0)).toMatch(/^HTTP\/1\.1 200 /);
      await closedAt;
    } finally {
      ws.terminate();
      wss.close();
      await server.close();
    }
  }, 10_000);

  it('keeps a connection whose pipelined first request is still running behind a finished second one', async () => {
    const { server, port } = await serve(100);
    try {
      const { socket, closedAt } = await open(port);
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      // Both requests in one write: the slow one is answered first (in order), after four sweep periods.
      socket.write(`GET /slow/wait?ms=450 HTTP/1.1\r\nhost: localhost\r\n\r\nGET /slow/wait?ms=0 HTTP/1.1\r\nhost: localhost\r\n\r\n`);
      await new Promise<void>((resolve, reject) => {
        const check = setInterval(() => {
          if ((text.match(/HTTP\/1\.1 200 /g) ?? []).length === 2) {
            clearInterval(check);
            resolve();
          }
        }, 10);
        void closedAt.then(() => {
          clearInterval(check);
          reject(new Error(`closed with ${text.length} bytes received`));
        });
      });
      expect(text).toMatch(/"waited":450[\s\S]*"waited":0/);
      await closedAt; // idle afterwards: closed in the end
    } finally {
      await server.close();
    }
  }, 10_000);

  it('keeps a connection while a large body is still on its way to a slow reader', async () => {
    const body = Buffer.alloc(32 * 1024 * 1024, 0x61);
    const { server, port } = await serve(100, (s) =>
      s.app.get('/big', (_request, reply) => {
        void reply.header('content-type', 'application/octet-stream').send(body);
      }),
    );
    try {
      const { socket, closedAt } = await open(port);
      let received = 0;
      let closed = false;
      void closedAt.then(() => (closed = true));
      socket.pause();
      socket.write('GET /big HTTP/1.1\r\nhost: localhost\r\n\r\n');
      await new Promise((resolve) => setTimeout(resolve, 500)); // the server's end() is long done, the bytes are not
      expect(closed).toBe(false);
      await new Promise<void>((resolve, reject) => {
        socket.on('data', (chunk: Buffer) => {
          received += chunk.byteLength;
          if (received >= body.byteLength) resolve();
        });
        void closedAt.then(() => reject(new Error(`closed after ${received} bytes`)));
        socket.resume();
      });
      expect(received).toBeGreaterThan(body.byteLength); // body plus the head
    } finally {
      await server.close();
    }
  }, 20_000);
});
