import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { command, query, service } from '../../../src/core/contract.js';
import { RateLimitedError, ValidationError } from '../../../src/core/errors.js';
import { BadResponseError, NotFoundError, UnavailableError } from '../../../src/sync/errors.js';
import { type HttpServer, PROBLEM_CONTENT_TYPE, http, httpServer } from '../../../src/sync/http/index.js';
import { RawConnection, jsonRequest, rawRequest } from './raw.js';

/**
 * The HTTP server's hardening: every hostile or malformed request gets its typed 4xx problem, the handler
 * never runs, and the server keeps serving. Requests are written on raw sockets where no client library
 * would send them (a huge Content-Length without the body, headers sent byte by byte, invalid UTF-8).
 */
const Hard = service('hard', {
  queries: { get: query({ input: z.object({ id: z.string() }), output: z.object({ id: z.string() }) }) },
  commands: {
    put: command({ input: z.object({ data: z.unknown().optional() }), output: z.object({ ok: z.boolean() }) }),
    item: command({
      input: z.object({ sku: z.string(), qty: z.number() }),
      output: z.object({ sku: z.string(), qty: z.number() }),
      http: { method: 'PUT', path: '/items/:sku' },
    }),
  },
});

const MAX_BODY = 16 * 1024;
const MAX_DECODED = 64 * 1024;
const MAX_DEPTH = 16;
const MAX_HEADERS = 2048;

interface Served {
  server: HttpServer;
  port: number;
  calls: { put: number; item: number; get: number };
}

async function start(fastPath: boolean): Promise<Served> {
  const calls = { put: 0, item: 0, get: 0 };
  const server = httpServer({
    fastPath,
    limits: {
      maxBodyBytes: MAX_BODY,
      maxDecodedBodyBytes: MAX_DECODED,
      maxJsonDepth: MAX_DEPTH,
      maxHeaderBytes: MAX_HEADERS,
      headersTimeoutMs: 400,
      requestTimeoutMs: 3000,
      timeoutCheckIntervalMs: 50,
    },
    info: { title: 'hardening', version: '2.0.0' },
  });
  server.serve(Hard, {
    get: async ({ id }) => {
      calls.get++;
      return { id };
    },
    put: async () => {
      calls.put++;
      return { ok: true };
    },
    item: async ({ sku, qty }) => {
      calls.item++;
      return { sku, qty };
    },
  });
  const url = await server.listen();
  return { server, port: Number(new URL(url).port), calls };
}

/** A well-formed call on a fresh connection: the server still serves. */
async function stillServes(s: Served): Promise<void> {
  const before = s.calls.put;
  const response = await rawRequest(s.port, jsonRequest('POST', '/hard/put', '{"data":[1,2,3]}'));
  expect(response.status).toBe(200);
  expect(response.json()).toEqual({ ok: true });
  expect(s.calls.put).toBe(before + 1);
}

function expectProblem(
  response: { status: number; headers: Readonly<Record<string, string>>; json(): any },
  status: number,
  code: string,
): any {
  expect(response.status).toBe(status);
  expect(response.headers['content-type']).toBe(PROBLEM_CONTENT_TYPE);
  const problem = response.json();
  expect(problem).toMatchObject({ type: `urn:courier:error:${code}`, status, code });
  expect(typeof problem.title).toBe('string');
  expect(typeof problem.detail).toBe('string');
  return problem;
}

describe.each([
  { path: 'fast path', fastPath: true },
  { path: "fastify's router", fastPath: false },
])('HTTP hardening ($path)', ({ fastPath }) => {
  let s: Served;
  beforeAll(async () => {
    s = await start(fastPath);
  });
  afterAll(async () => {
    await s.server.close();
  });

  it.each(['/hard/put', '/hard/items/A1'])(
    'a huge Content-Length on %s is 413 before the body is sent, and the connection is closed',
    async (path) => {
      const before = s.calls.put + s.calls.item;
      const connection = await RawConnection.open(s.port);
      try {
        const method = path === '/hard/put' ? 'POST' : 'PUT';
        await connection.write(
          `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n`,
        );
        // Not one byte of the body is written: the answer can only come from the declared length.
        const response = await connection.response();
        const problem = expectProblem(response, 413, 'MESSAGE_TOO_LARGE');
        expect(problem.retryable).toBe(false);
        expect(problem.fields).toEqual({ sizeBytes: 10_000_000_000, maxBytes: MAX_BODY });
        expect(response.headers['connection']).toBe('close');
        await connection.whenClosed();
      } finally {
        connection.destroy();
      }
      expect(s.calls.put + s.calls.item).toBe(before);
      await stillServes(s);
    },
  );

  it('a chunked body is refused with 413 as soon as it passes the limit, while the client is still sending', async () => {
    const before = s.calls.put;
    const connection = await RawConnection.open(s.port);
    try {
      await connection.write(
        'POST /hard/put HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
      );
      const chunk = 'a'.repeat(1024);
      let sent = 0;
      // Keep sending 1 KiB chunks (never the final chunk) until the server answers.
      const answer = connection.response();
      let answered = false;
      void answer.then(
        () => (answered = true),
        () => (answered = true),
      );
      while (!answered && sent < 64) {
        const ok = await connection.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
        if (!ok) break;
        sent++;
        await new Promise((resolve) => setImmediate(resolve));
      }
      const response = await answer;
      expectProblem(response, 413, 'MESSAGE_TOO_LARGE');
      expect(sent).toBeLessThan(64);
    } finally {
      connection.destroy();
    }
    expect(s.calls.put).toBe(before);
    await stillServes(s);
  });

  it('JSON nested deeper than the limit is 400 json-too-deep; depth inside strings does not count', async () => {
    const deep = `{"data":${'['.repeat(MAX_DEPTH * 4)}${']'.repeat(MAX_DEPTH * 4)}}`;
    const problem = expectProblem(await rawRequest(s.port, jsonRequest('POST', '/hard/put', deep)), 400, 'BAD_REQUEST');
    expect(problem.details).toEqual({ reason: 'json-too-deep' });
    const before = s.calls.put;
    const shallowButBracketed = JSON.stringify({ data: '['.repeat(MAX_DEPTH * 4) });
    expect((await rawRequest(s.port, jsonRequest('POST', '/hard/put', shallowButBracketed))).status).toBe(200);
    const justUnder = `{"data":${'['.repeat(MAX_DEPTH - 1)}${']'.repeat(MAX_DEPTH - 1)}}`;
    expect((await rawRequest(s.port, jsonRequest('POST', '/hard/put', justUnder))).status).toBe(200);
    expect(s.calls.put).toBe(before + 2);
  });

  it.each([
    ['__proto__ at the top', '{"__proto__":{"admin":true}}'],
    ['constructor nested', '{"data":{"constructor":{"prototype":{"admin":true}}}}'],
    ['prototype in an array item', '{"data":[{"prototype":1}]}'],
    ['an escaped __proto__', '{"data":{"\\u005f_proto__":{"admin":true}}}'],
  ])('a body with %s is 400 forbidden-key', async (_what, body) => {
    const before = s.calls.put;
    const problem = expectProblem(await rawRequest(s.port, jsonRequest('POST', '/hard/put', body)), 400, 'BAD_REQUEST');
    expect(problem.details).toEqual({ reason: 'forbidden-key' });
    expect(s.calls.put).toBe(before);
    expect(({} as Record<string, unknown>)['admin']).toBeUndefined();
  });

  it('a body that is not valid UTF-8 is 400 invalid-utf8', async () => {
    const body = Buffer.concat([Buffer.from('{"data":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]);
    const problem = expectProblem(await rawRequest(s.port, jsonRequest('POST', '/hard/put', body)), 400, 'BAD_REQUEST');
    expect(problem.details).toEqual({ reason: 'invalid-utf8' });
    await stillServes(s);
  });

  it('malformed JSON is 400 malformed-json with a detail naming the problem', async () => {
    const problem = expectProblem(await rawRequest(s.port, jsonRequest('POST', '/hard/put', '{"data": [1, 2')), 400, 'BAD_REQUEST');
    expect(problem.details).toEqual({ reason: 'malformed-json' });
    expect(problem.detail).toMatch(/not JSON/);
    expect(problem.detail.length).toBeGreaterThan('request body is not JSON: '.length);
    await stillServes(s);
  });

  const compressors = { gzip: gzipSync, deflate: deflateSync, br: brotliCompressSync } as const;
  it.each(['gzip', 'deflate', 'br'] as const)('a %s bomb is 413 after the decoded limit; a small body in that coding is read', async (coding) => {
    const compress = compressors[coding];
    const bomb = compress(Buffer.from(`{"data":"${'a'.repeat(8 * 1024 * 1024)}"}`));
    expect(bomb.length).toBeLessThan(MAX_BODY); // small on the wire: only the decoded size gives it away
    const problem = expectProblem(
      await rawRequest(s.port, jsonRequest('POST', '/hard/put', bomb, [`Content-Encoding: ${coding}`])),
      413,
      'MESSAGE_TOO_LARGE',
    );
    expect(problem.details).toEqual({ decoded: true });
    const before = s.calls.put;
    const small = compress(Buffer.from('{"data":{"x":1}}'));
    const response = await rawRequest(s.port, jsonRequest('POST', '/hard/put', small, [`Content-Encoding: ${coding}`]));
    expect(response.status).toBe(200);
    expect(s.calls.put).toBe(before + 1);
  });

  it('a corrupt compressed body is 400; an unknown coding and a non-JSON type are 415', async () => {
    const before = s.calls.put;
    const corrupt = expectProblem(
      await rawRequest(s.port, jsonRequest('POST', '/hard/put', Buffer.from('not gzip at all'), ['Content-Encoding: gzip'])),
      400,
      'BAD_REQUEST',
    );
    expect(corrupt.details).toEqual({ reason: 'malformed-body' });
    expectProblem(
      await rawRequest(s.port, jsonRequest('POST', '/hard/put', '{}', ['Content-Encoding: zstd'])),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    const textPlain = 'POST /hard/put HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}';
    expectProblem(await rawRequest(s.port, textPlain), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expect(s.calls.put).toBe(before);
    await stillServes(s);
  });

  it('headers over the limit are 431', async () => {
    const getsBefore = s.calls.get;
    const request = `GET /hard/get?id=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ${'p'.repeat(MAX_HEADERS * 2)}\r\n\r\n`;
    const response = await rawRequest(s.port, request);
    expectProblem(response, 431, 'HEADERS_TOO_LARGE');
    expect(s.calls.get).toBe(getsBefore);
    await stillServes(s);
  });

  it('a client sending its headers slowly (slowloris) gets 408 and is cut off', async () => {
    const getsBefore = s.calls.get;
    const connection = await RawConnection.open(s.port);
    let written = 0;
    try {
      await connection.write('GET /hard/get?id=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      // One byte every 20 ms of a header that never ends; the server's headers timeout must stop it.
      const line = `X-Slow: ${'s'.repeat(5000)}`;
      while (!connection.closed && written < line.length) {
        if (!(await connection.write(line[written]!))) break;
        written++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(connection.closed).toBe(true);
      expect(written).toBeLessThan(line.length);
      const response = await connection.response();
      expectProblem(response, 408, 'REQUEST_TIMEOUT');
    } finally {
      connection.destroy();
    }
    expect(s.calls.get).toBe(getsBefore);
    await stillServes(s);
  });

  it('a deadline that already passed is 504 and never runs; a malformed deadline header is 400', async () => {
    const before = s.calls.put;
    const expired = await rawRequest(s.port, jsonRequest('POST', '/hard/put', '{}', ['courier-timeout-ms: 0']));
    expectProblem(expired, 504, 'DEADLINE_EXCEEDED');
    const malformed = await rawRequest(s.port, jsonRequest('POST', '/hard/put', '{}', ['courier-timeout-ms: soon']));
    expect(expectProblem(malformed, 400, 'BAD_REQUEST').details).toEqual({ reason: 'invalid-header' });
    const badKey = await rawRequest(s.port, jsonRequest('POST', '/hard/put', '{}', ['Idempotency-Key: "a\\"b"']));
    expect(expectProblem(badKey, 400, 'BAD_REQUEST').details).toEqual({ reason: 'invalid-idempotency-key' });
    expect(s.calls.put).toBe(before);
    await stillServes(s);
  });

  it('a validation failure is an RFC 9457 problem with issues, and the client rethrows it as ValidationError', async () => {
    const itemsBefore = s.calls.item;
    const response = await rawRequest(s.port, jsonRequest('PUT', '/hard/items/A1', '{"qty":"many"}'));
    const problem = expectProblem(response, 400, 'VALIDATION_FAILED');
    expect(problem).toMatchObject({ title: 'Bad Request', retryable: false, issues: [{ path: ['qty'] }] });
    expect(problem.detail).toContain('qty');
    const client = http(`http://127.0.0.1:${s.port}`);
    try {
      const error = await client.client(Hard).item({ sku: 'A1', qty: 'many' as never }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).path).toEqual(['qty']);
      expect((error as ValidationError).message).toBe(problem.detail);
      expect(await client.client(Hard).item({ sku: 'B/2 x', qty: 3 })).toEqual({ sku: 'B/2 x', qty: 3 });
    } finally {
      await client.close();
    }
    expect(s.calls.item).toBe(itemsBefore + 1);
  });
});

describe('HTTP hardening: a body sent slowly', () => {
  it('is cut off with 408 when the request is not complete within requestTimeoutMs; the handler never runs', async () => {
    const calls = { put: 0 };
    const server = httpServer({ limits: { headersTimeoutMs: 300, requestTimeoutMs: 600, timeoutCheckIntervalMs: 50 } });
    server.serve(Hard, {
      get: async ({ id }) => ({ id }),
      put: async () => {
        calls.put++;
        return { ok: true };
      },
      item: async (input) => input,
    });
    const port = Number(new URL(await server.listen()).port);
    try {
      const connection = await RawConnection.open(port);
      const body = JSON.stringify({ data: 'x'.repeat(500) });
      let sent = 0;
      try {
        await connection.write(
          `POST /hard/put HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
        );
        // The headers are complete; the body trickles in one byte every 20 ms and would take 10 s.
        while (!connection.closed && sent < body.length) {
          if (!(await connection.write(body[sent]!))) break;
          sent++;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        expect(connection.closed).toBe(true);
        expect(sent).toBeLessThan(body.length);
        expectProblem(await connection.response(), 408, 'REQUEST_TIMEOUT');
      } finally {
        connection.destroy();
      }
      expect(calls.put).toBe(0);
      const fine = await rawRequest(port, jsonRequest('POST', '/hard/put', '{}'));
      expect(fine.status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

describe('HTTP client: answers mapped back to typed errors', () => {
  let port: number;
  const foreign = createServer((req, res) => {
    const send = (status: number, type: string, body: string, extra: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...extra });
      res.end(body);
    };
    if (req.url === '/hard/get?id=proxy') return send(503, 'text/html', '<h1>Service Unavailable</h1>');
    if (req.url === '/hard/get?id=limited') {
      return send(
        429,
        PROBLEM_CONTENT_TYPE,
        JSON.stringify({ type: 'urn:courier:error:RATE_LIMITED', title: 'Too Many Requests', status: 429, code: 'RATE_LIMITED', retryable: true, detail: 'slow down' }),
        { 'retry-after': '3' },
      );
    }
    if (req.url === '/hard/get?id=rfc') {
      // A problem document from a server that is not Courier: no `code`, mapped by status.
      return send(404, PROBLEM_CONTENT_TYPE, JSON.stringify({ type: 'https://example.com/probs/none', title: 'Not Found', status: 404 }));
    }
    if (req.url === '/hard/get?id=garbage') return send(200, 'application/json', '{"id":');
    return send(500, 'text/plain', 'boom');
  });
  beforeAll(async () => {
    await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', resolve));
    port = (foreign.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => foreign.close(resolve));
  });

  it('maps Courier problems by code, foreign problems and error pages by status, and bad bodies to BadResponseError', async () => {
    const transport = http(`http://127.0.0.1:${port}`);
    const client = transport.client(Hard);
    try {
      const limited = await client.get({ id: 'limited' }).catch((e: unknown) => e);
      expect(limited).toBeInstanceOf(RateLimitedError);
      expect((limited as RateLimitedError).retryAfterMs).toBe(3000);
      expect((limited as RateLimitedError).message).toBe('slow down');
      const proxy = await client.get({ id: 'proxy' }).catch((e: unknown) => e);
      expect(proxy).toBeInstanceOf(UnavailableError);
      expect((proxy as UnavailableError).retryable).toBe(true);
      expect(await client.get({ id: 'rfc' }).catch((e: unknown) => e)).toBeInstanceOf(NotFoundError);
      expect(await client.get({ id: 'garbage' }).catch((e: unknown) => e)).toBeInstanceOf(BadResponseError);
      const boom = await client.get({ id: 'other' }).catch((e: unknown) => e);
      expect(boom).toBeInstanceOf(BadResponseError);
      expect((boom as BadResponseError).details).toEqual({ status: 500 });
    } finally {
      await transport.close();
    }
  });
});

describe('OpenAPI 3.1 document', () => {
  let s: Served;
  beforeAll(async () => {
    s = await start(true);
  });
  afterAll(async () => {
    await s.server.close();
  });

  it('is served at /openapi.json and describes every route as the server serves it', async () => {
    const response = await rawRequest(s.port, 'GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect(response.status).toBe(200);
    const doc = response.json();
    expect(doc).toEqual(JSON.parse(JSON.stringify(s.server.openapi())));
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toEqual({ title: 'hardening', version: '2.0.0' });
    expect(Object.keys(doc.paths).sort()).toEqual(['/hard/get', '/hard/items/{sku}', '/hard/put']);

    const get = doc.paths['/hard/get'].get;
    expect(get.operationId).toBe('hard.get');
    expect(get.requestBody).toBeUndefined();
    expect(get.parameters).toContainEqual({ name: 'id', in: 'query', required: true, schema: { type: 'string' } });
    expect(get.parameters).not.toContainEqual({ $ref: '#/components/parameters/IdempotencyKey' });

    const put = doc.paths['/hard/put'].post;
    expect(put.operationId).toBe('hard.put');
    expect(put.requestBody.content['application/json'].schema.type).toBe('object');
    expect(put.parameters).toContainEqual({ $ref: '#/components/parameters/IdempotencyKey' });
    expect(put.responses['4XX'].content[PROBLEM_CONTENT_TYPE].schema).toEqual({ $ref: '#/components/schemas/Problem' });

    const item = doc.paths['/hard/items/{sku}'].put;
    expect(item.parameters).toContainEqual({ name: 'sku', in: 'path', required: true, schema: { type: 'string' } });
    expect(item.responses['200'].content['application/json'].schema.properties.qty).toEqual({ type: 'number' });

    expect(doc.components.schemas.Problem.required).toEqual(expect.arrayContaining(['type', 'title', 'status', 'code']));
    // Embedded schemas are plain 2020-12 schemas, without a $schema of their own.
    expect(JSON.stringify(doc)).not.toContain('"$schema"');
    const ids = Object.values(doc.paths).flatMap((p: any) => Object.values(p).map((o: any) => o.operationId));
    expect(new Set(ids).size).toBe(ids.length);
  });
});
