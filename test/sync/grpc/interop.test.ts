/**
 * Interop with standard gRPC stacks through the .proto Courier generates: @grpc/grpc-js (+ proto-loader)
 * as a client of Courier's server and as a server for Courier's client, and Python grpcio (stubs made by
 * grpc_tools.protoc from the generated file). COURIER_PYTHON picks the interpreter (default /usr/bin/python3).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpcJs from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../../src/core/errors.js';
import { type GrpcServer, grpc, grpcServer, protoFile } from '../../../src/sync/grpc/index.js';
import { type Seen, Shop, implementation } from './fixture.js';

const here = dirname(fileURLToPath(import.meta.url));
const python = process.env.COURIER_PYTHON ?? '/usr/bin/python3';
const pythonReady = spawnSync(python, ['-c', 'import grpc, grpc_tools'], { encoding: 'utf8' }).status === 0;
if (!pythonReady && process.env.CI === 'true') throw new Error(`CI: ${python} lacks grpcio/grpc_tools`);

const dir = mkdtempSync(join(tmpdir(), 'courier-grpc-'));
const protoPath = join(dir, 'shop.proto');
writeFileSync(protoPath, protoFile(Shop));

let server: GrpcServer;
const seen: Seen = { produced: 0, streamFinished: false };
beforeAll(async () => {
  server = grpcServer();
  server.serve(Shop, implementation(seen));
  await server.listen();
});
afterAll(() => server.close());

function loadJs(): any {
  const def = protoLoader.loadSync(protoPath, { keepCase: true, longs: Number, defaults: false, oneofs: false });
  return (grpcJs.loadPackageDefinition(def) as any).shop.Shop;
}

describe('grpc-js client → Courier server', () => {
  it('unary, server streaming, and a status for invalid input', async () => {
    const Ctor = loadJs();
    const client = new Ctor(server.address, grpcJs.credentials.createInsecure());
    const md = new grpcJs.Metadata();
    md.set('courier-correlation-id', 'js-corr');
    const reply = await new Promise<any>((resolve, reject) =>
      client.Stock({ sku: 'ABC-1' }, md, { deadline: Date.now() + 5000 }, (e: Error | null, r: unknown) => (e ? reject(e) : resolve(r))),
    );
    expect(reply).toMatchObject({ sku: 'ABC-1', qty: 7, corr: 'js-corr' });
    expect(seen.ctx!.deadline).toBeDefined();
    const ticks: number[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = client.Ticks({ n: 4 });
      call.on('data', (t: { i: number }) => ticks.push(t.i));
      call.on('end', resolve);
      call.on('error', reject);
    });
    expect(ticks).toEqual([0, 1, 2, 3]);
    const error = await new Promise<any>((resolve) => client.Stock({ sku: '' }, (e: unknown) => resolve(e)));
    expect(error.code).toBe(grpcJs.status.INVALID_ARGUMENT);
    expect(error.metadata.get('courier-error-bin')).toHaveLength(1);
    client.close();
  });
});

describe('Courier client → grpc-js server', () => {
  it('unary and server streaming against a grpc-js implementation of the generated .proto', async () => {
    const Ctor = loadJs();
    const js = new grpcJs.Server();
    js.addService(Ctor.service, {
      Stock: (call: any, cb: any) => cb(null, { sku: call.request.sku, qty: 3, corr: String(call.metadata.get('courier-correlation-id')[0] ?? '') }),
      Ticks: (call: any) => {
        for (let i = 0; i < call.request.n; i++) call.write({ i });
        call.end();
      },
      Slow: (_c: any, cb: any) => cb({ code: grpcJs.status.INVALID_ARGUMENT, details: 'bad input' }),
      Fail: (_c: any, cb: any) => cb(null, {}),
      Sum: (call: any, cb: any) => {
        let total = 0;
        call.on('data', (x: { v: number }) => (total += x.v));
        call.on('end', () => cb(null, { total }));
      },
      Echo: (call: any) => {
        call.on('data', (x: { s: string }) => call.write({ s: x.s }));
        call.on('end', () => call.end());
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      js.bindAsync('127.0.0.1:0', grpcJs.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    const transport = grpc(`127.0.0.1:${port}`);
    const shop = transport.client(Shop);
    const { Context } = await import('../../../src/core/context.js');
    await expect(shop.stock({ sku: 'Z' }, { ctx: new Context({ correlationId: 'c-9' }), timeoutMs: 5000 })).resolves.toEqual({ sku: 'Z', qty: 3, corr: 'c-9' });
    const out: number[] = [];
    for await (const t of await shop.ticks({ n: 3 })) out.push(t.i);
    expect(out).toEqual([0, 1, 2]);
    await expect(shop.sum([{ v: 2 }, { v: 3 }])).resolves.toEqual({ total: 5 });
    const e = await shop.slow({ ms: 1 }).catch((x: unknown) => x);
    expect((e as { details?: Record<string, unknown> }).details?.['grpcStatus']).toBe(3);
    await transport.close();
    js.forceShutdown();
  });
});

describe.skipIf(!pythonReady)('Python grpcio client → Courier server', () => {
  it('unary and server streaming through stubs generated from the .proto', async () => {
    const gen = spawnSync(python, ['-m', 'grpc_tools.protoc', `-I${dir}`, `--python_out=${dir}`, `--grpc_python_out=${dir}`, protoPath], {
      encoding: 'utf8',
    });
    expect(gen.stderr).toBe('');
    expect(gen.status).toBe(0);
    // Not spawnSync: the server runs in this process and must keep answering.
    const run = await new Promise<{ stdout: string; stderr: string }>((resolve) => {
      const child = spawn(python, [join(here, 'python', 'client.py'), dir, server.address], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', () => resolve({ stdout, stderr }));
    });
    expect(run.stderr).toBe('');
    const result = JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(result).toEqual({ sku: 'ABC-1', qty: 7, corr: 'py-corr', ticks: [0, 1, 2], invalid: 'INVALID_ARGUMENT' });
    expect(ValidationError).toBeDefined();
  });
});
