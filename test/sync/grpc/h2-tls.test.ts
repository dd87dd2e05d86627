/**
 * Courier's HTTP/2 over TLS (ALPN `h2`): `grpcServer({ tls })` called by `grpc('https://…', { tls: { ca } })`,
 * cross-checked against `node:http2` both ways, with a throwaway self-signed certificate for 127.0.0.1 made by
 * `openssl` in a temp dir. Without `openssl` on PATH the suite is skipped (reported as skipped, with the
 * reason in its name); on CI that is an error.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnavailableError } from '../../../src/sync/errors.js';
import { messageCodec } from '../../../src/sync/grpc/codec.js';
import { H2ClientSession } from '../../../src/sync/grpc/h2/client-session.js';
import { type GrpcServer, grpc, grpcServer, protoMethod } from '../../../src/sync/grpc/index.js';
import { type Seen, Shop, implementation } from './fixture.js';
import { collector, encoder, fieldMap } from './h2-helpers.js';

const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' }).status === 0;
if (!openssl && process.env.CI === 'true')
  throw new Error('CI: openssl is not on PATH; the TLS tests need it');

let dir: string;
let key: string;
let cert: string;
let server: GrpcServer;
let target: string;
const seen: Seen = { produced: 0, streamFinished: false };

describe.skipIf(!openssl)(
  'gRPC over TLS (skipped when openssl is not on PATH: it makes the certificate)',
  () => {
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'courier-h2-tls-'));
      const made = spawnSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-keyout',
          join(dir, 'k.pem'),
          '-out',
          join(dir, 'c.pem'),
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
        ],
        { encoding: 'utf8' },
      );
      if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr}`);
      key = readFileSync(join(dir, 'k.pem'), 'utf8');
      cert = readFileSync(join(dir, 'c.pem'), 'utf8');
      server = grpcServer({ tls: { key, cert } });
      server.serve(Shop, implementation(seen));
      target = `https://${await server.listen()}`;
    });
    afterAll(async () => {
      await server?.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    it('a unary call and a server stream succeed with the CA', async () => {
      const transport = grpc(target, { tls: { ca: cert } });
      try {
        const shop = transport.client(Shop);
        await expect(shop.stock({ sku: 'T' })).resolves.toEqual({ sku: 'T', qty: 7, corr: '' });
        const out: number[] = [];
        for await (const t of await shop.ticks({ n: 20 })) out.push(t.i);
        expect(out).toEqual(Array.from({ length: 20 }, (_, i) => i));
      } finally {
        await transport.close();
      }
    });

    it('a client that does not trust the certificate fails with UnavailableError', async () => {
      const transport = grpc(target);
      try {
        const error = await transport
          .client(Shop)
          .stock({ sku: 'T' })
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(error).toBeInstanceOf(UnavailableError);
        expect((error as Error).message).toMatch(/self[- ]signed|certificate/i);
      } finally {
        await transport.close();
      }
    });

    it('a TLS client that does not offer ALPN h2 is disconnected', async () => {
      const socket = tlsConnect({ host: '127.0.0.1', port: Number(new URL(target).port), ca: cert });
      socket.on('error', () => {});
      let handshook = false;
      socket.once('secureConnect', () => (handshook = true));
      await new Promise<void>((resolve) => socket.once('close', () => resolve()));
      expect(handshook).toBe(true); // the certificate was fine: the server hung up for the missing ALPN
      expect(socket.alpnProtocol).toBeFalsy();
    });

    it('a node:http2 client over TLS gets a gRPC answer', async () => {
      const session = http2.connect(target, { ca: cert });
      session.on('error', () => {});
      try {
        const m = protoMethod(Shop.queries.stock);
        const stream = session.request({
          ':method': 'POST',
          ':path': m.path,
          'content-type': 'application/grpc',
        });
        stream.end(messageCodec(m.request).encodeFrame({ sku: 'N' }));
        const chunks: Buffer[] = [];
        let trailers: http2.IncomingHttpHeaders = {};
        stream.on('trailers', (t) => (trailers = t));
        stream.on('data', (c: Buffer) => chunks.push(c));
        await new Promise((resolve, reject) => {
          stream.on('end', resolve);
          stream.on('error', reject);
        });
        expect(trailers['grpc-status']).toBe('0');
        expect(messageCodec(m.response).decode(Buffer.concat(chunks), 5)).toEqual({
          sku: 'N',
          qty: 7,
          corr: '',
        });
      } finally {
        session.destroy();
      }
    });

    it('H2ClientSession talks to a node:http2 secure server (ALPN h2)', async () => {
      const secure = http2.createSecureServer({ key, cert });
      secure.on('stream', (stream) => {
        stream.respond({ ':status': 200, 'x-alpn': 'h2' });
        stream.end('over tls');
      });
      await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
      const port = (secure.address() as AddressInfo).port;
      const session = new H2ClientSession(new URL(`https://127.0.0.1:${port}`), { tls: { ca: cert } });
      try {
        const c = collector();
        session.open(
          encoder.encode([
            ':method',
            'GET',
            ':scheme',
            'https',
            ':path',
            '/',
            ':authority',
            `127.0.0.1:${port}`,
          ]),
          true,
          c.events,
        );
        await c.done;
        expect(c.abort).toBeUndefined();
        expect(fieldMap(c.headers[0])).toMatchObject({ ':status': '200', 'x-alpn': 'h2' });
        expect(c.body().toString()).toBe('over tls');
      } finally {
        session.destroy();
        await new Promise((resolve) => secure.close(resolve));
      }
    });
  },
);
