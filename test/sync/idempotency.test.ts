import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Context } from '../../src/core/context.js';
import { command, service } from '../../src/core/contract.js';
import { DeadlineExceededError, TimeoutError } from '../../src/core/errors.js';
import { retry } from '../../src/policies/retry.js';
import { timeout } from '../../src/policies/timeout.js';
import {
  type BeginResult,
  IdempotencyConflictError,
  IdempotencyKeyReusedError,
  type IdempotencyStore,
  MemoryIdempotencyStore,
  SqliteIdempotencyStore,
} from '../../src/reliability/idempotency/index.js';
import { HEADER, http, httpServer } from '../../src/sync/http/index.js';
import { inproc } from '../../src/sync/inproc/index.js';
import type { ServerRuntimeOptions } from '../../src/sync/served-operation.js';
import { type ClientTransport, createClient } from '../../src/sync/transport.js';
import { waitFor } from '../../src/testing/index.js';
import { jsonRequest, rawRequest } from './http/raw.js';

/**
 * Idempotency keys end to end: a command retried after the CLIENT gave up (its timeout policy fired while the
 * server was still working) has exactly one effect, and the retry receives the stored response. For both
 * stores and both transports, plus the refusals: 422 for a key reused with another payload, and for an
 * in-flight duplicate either a wait for the first request's answer or 409.
 */
const Payments = service('payments', {
  commands: {
    charge: command({
      input: z.object({ account: z.string(), cents: z.number().int() }),
      output: z.object({ chargeId: z.string(), balance: z.number() }),
      idempotent: true,
    }),
  },
});

/** The payment service's side effects, and a gate the test holds the handler on (after the effect). */
class Ledger {
  effects = 0;
  balance = 0;
  handlerRuns = 0;
  cancelledWhileWorking = 0;
  private release: (() => void) | undefined;
  private held: Promise<void> | undefined;

  hold(): void {
    this.held = new Promise<void>((resolve) => (this.release = resolve));
  }

  open(): void {
    this.release?.();
  }

  async charge({ cents }: { account: string; cents: number }, ctx: Context): Promise<{ chargeId: string; balance: number }> {
    this.handlerRuns++;
    // The effect happens first; then the handler is slow to answer (and does not stop when cancelled:
    // the charge went through, and its answer must not be lost).
    this.effects++;
    this.balance += cents;
    const chargeId = `ch-${this.effects}`;
    const balance = this.balance;
    // When the caller gives up (disconnects, or its timeout cancels the call), the work still completes.
    const stop = ctx.cancel.onCancel(() => {
      this.cancelledWhileWorking++;
      this.open();
    });
    await this.held;
    stop();
    return { chargeId, balance };
  }
}

interface Stack {
  readonly client: ClientTransport;
  /** The server's port (HTTP only), for raw requests. */
  readonly port: number | undefined;
  close(): Promise<void>;
}

type StoreKind = 'memory' | 'sqlite';
type TransportKind = 'http' | 'inproc';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function sqliteFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'courier-idem-'));
  dirs.push(dir);
  return join(dir, 'keys.db');
}

function newStore(kind: StoreKind, filename?: string): IdempotencyStore {
  return kind === 'memory' ? new MemoryIdempotencyStore() : new SqliteIdempotencyStore({ filename: filename ?? sqliteFile() });
}

async function serve(
  transport: TransportKind,
  ledger: Ledger,
  store: IdempotencyStore,
  options: { waitMs?: number } = {},
): Promise<Stack> {
  const runtime: ServerRuntimeOptions = { idempotency: { store, ...(options.waitMs === undefined ? {} : { waitMs: options.waitMs }) } };
  const implementation = { charge: (input: { account: string; cents: number }, ctx: Context) => ledger.charge(input, ctx) };
  if (transport === 'inproc') {
    const t = inproc(runtime);
    t.serve(Payments, implementation);
    return {
      client: t,
      port: undefined,
      close: async () => {
        await t.close();
        await store.close();
      },
    };
  }
  const server = httpServer(runtime);
  server.serve(Payments, implementation);
  const url = await server.listen();
  const client = http(url);
  return {
    client,
    port: Number(new URL(url).port),
    close: async () => {
      await client.close();
      await server.close();
      await store.close();
    },
  };
}

const combos: Array<{ transport: TransportKind; store: StoreKind }> = [
  { transport: 'http', store: 'memory' },
  { transport: 'http', store: 'sqlite' },
  { transport: 'inproc', store: 'memory' },
  { transport: 'inproc', store: 'sqlite' },
];

describe.each(combos)('idempotency over $transport with the $store store', ({ transport, store: storeKind }) => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  it('a command retried after a client-side timeout has exactly one effect, and the retry gets the stored response', async () => {
    const ledger = new Ledger();
    ledger.hold();
    stack = await serve(transport, ledger, newStore(storeKind));
    // Attempt 1 cannot finish in time: the handler is held until the server sees the client give up.
    const perAttempt = timeout(400);
    const retried: unknown[] = [];
    const payments = createClient(Payments, stack.client, {
      policy: [retry({ attempts: 3, baseMs: 5, maxMs: 20, onRetry: (e) => retried.push(e.error) }), perAttempt],
    });
    const result = await payments.charge({ account: 'acct-1', cents: 500 });
    // Exactly one retry, after the client's own timeout policy gave up on attempt 1.
    expect(retried).toHaveLength(1);
    expect(retried[0]).toBeInstanceOf(TimeoutError);
    expect(ledger.effects).toBe(1);
    expect(ledger.handlerRuns).toBe(1);
    // The server saw attempt 1 abandoned (its ctx.cancel fired) and still kept the answer for the retry.
    expect(ledger.cancelledWhileWorking).toBe(1);
    expect(result).toEqual({ chargeId: 'ch-1', balance: 500 });
  });

  it('without an idempotency key the same retry charges twice (what the key prevents)', async () => {
    const ledger = new Ledger();
    ledger.hold();
    stack = await serve(transport, ledger, newStore(storeKind));
    const perAttempt = timeout(400);
    const payments = createClient(Payments, stack.client, {
      autoIdempotencyKey: false,
      policy: [retry({ attempts: 3, baseMs: 5, maxMs: 20 }), perAttempt],
    });
    const result = await payments.charge({ account: 'acct-1', cents: 500 });
    expect(ledger.effects).toBe(2);
    expect(result).toEqual({ chargeId: 'ch-2', balance: 1000 });
  });

  it('the same key with a different payload is refused (422 over HTTP) and changes nothing', async () => {
    const ledger = new Ledger();
    stack = await serve(transport, ledger, newStore(storeKind));
    const payments = createClient(Payments, stack.client);
    await payments.charge({ account: 'acct-1', cents: 500 }, { idempotencyKey: 'order-7' });
    const error = await payments.charge({ account: 'acct-1', cents: 900 }, { idempotencyKey: 'order-7' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IdempotencyKeyReusedError);
    expect(ledger.effects).toBe(1);
    // Key order does not make a payload different: same canonical JSON, same request.
    const again = await stack.client.call(Payments.commands.charge, { cents: 500, account: 'acct-1' }, ctxWithKey('order-7'));
    expect(again).toEqual({ chargeId: 'ch-1', balance: 500 });
    if (stack.port !== undefined) {
      const raw = await rawRequest(
        stack.port,
        jsonRequest('POST', '/payments/charge', '{"account":"acct-1","cents":1}', ['Idempotency-Key: "order-7"']),
      );
      expect(raw.status).toBe(422);
      expect(raw.json()).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', details: { key: 'order-7' } });
      const replayed = await rawRequest(
        stack.port,
        jsonRequest('POST', '/payments/charge', '{"account":"acct-1","cents":500}', ['Idempotency-Key: "order-7"']),
      );
      expect(replayed.status).toBe(200);
      expect(replayed.headers[HEADER.replayed]).toBe('true');
      expect(replayed.json()).toEqual({ chargeId: 'ch-1', balance: 500 });
    }
    expect(ledger.effects).toBe(1);
  });

  it('an in-flight duplicate waits for the first request and gets its response', async () => {
    const ledger = new Ledger();
    ledger.hold();
    let waiting = 0;
    stack = await serve(transport, ledger, observed(newStore(storeKind), (state) => state === 'in-flight' && waiting++));
    const payments = createClient(Payments, stack.client);
    const first = payments.charge({ account: 'a', cents: 1 }, { idempotencyKey: 'dup-wait' });
    await waitFor(() => ledger.handlerRuns === 1, 'the first request to run');
    const second = payments.charge({ account: 'a', cents: 1 }, { idempotencyKey: 'dup-wait' });
    await waitFor(() => waiting >= 1, 'the duplicate to find the key in flight');
    expect(ledger.handlerRuns).toBe(1);
    ledger.open();
    expect(await second).toEqual(await first);
    expect(ledger.effects).toBe(1);
  });

  it('with no wait allowed, an in-flight duplicate is refused (409 with Retry-After over HTTP); its retry gets the stored response', async () => {
    const ledger = new Ledger();
    ledger.hold();
    stack = await serve(transport, ledger, newStore(storeKind), { waitMs: 0 });
    const payments = createClient(Payments, stack.client);
    const first = payments.charge({ account: 'a', cents: 1 }, { idempotencyKey: 'dup-409' });
    await waitFor(() => ledger.handlerRuns === 1, 'the first request to run');
    const error = await payments.charge({ account: 'a', cents: 1 }, { idempotencyKey: 'dup-409' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IdempotencyConflictError);
    expect((error as IdempotencyConflictError).retryable).toBe(true);
    if (stack.port !== undefined) {
      const raw = await rawRequest(stack.port, jsonRequest('POST', '/payments/charge', '{"account":"a","cents":1}', ['Idempotency-Key: dup-409']));
      expect(raw.status).toBe(409);
      expect(raw.json()).toMatchObject({ code: 'IDEMPOTENCY_IN_PROGRESS', retryable: true });
      expect(Number(raw.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    ledger.open();
    const answer = await first;
    expect(await payments.charge({ account: 'a', cents: 1 }, { idempotencyKey: 'dup-409' })).toEqual(answer);
    expect(ledger.effects).toBe(1);
  });

  it('a duplicate whose own deadline passes while waiting gets DeadlineExceededError, and the first still completes once', async () => {
    const ledger = new Ledger();
    ledger.hold();
    stack = await serve(transport, ledger, newStore(storeKind));
    const payments = createClient(Payments, stack.client);
    const first = payments.charge({ account: 'a', cents: 3 }, { idempotencyKey: 'dup-deadline' });
    await waitFor(() => ledger.handlerRuns === 1, 'the first request to run');
    const error = await payments
      .charge({ account: 'a', cents: 3 }, { idempotencyKey: 'dup-deadline', timeoutMs: 100 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeadlineExceededError);
    ledger.open();
    const answer = await first;
    expect(await payments.charge({ account: 'a', cents: 3 }, { idempotencyKey: 'dup-deadline' })).toEqual(answer);
    expect(ledger.effects).toBe(1);
  });
});

describe('idempotency with the SQLite store across a restart', () => {
  it('a retry that reaches a restarted server (same database file) gets the stored response, not a second effect', async () => {
    const filename = sqliteFile();
    const ledger = new Ledger();
    const before = await serve('http', ledger, newStore('sqlite', filename));
    const first = await createClient(Payments, before.client).charge({ account: 'a', cents: 42 }, { idempotencyKey: 'restart-1' });
    await before.close();
    const after = await serve('http', ledger, newStore('sqlite', filename));
    try {
      const retried = await createClient(Payments, after.client).charge({ account: 'a', cents: 42 }, { idempotencyKey: 'restart-1' });
      expect(retried).toEqual(first);
      expect(ledger.effects).toBe(1);
    } finally {
      await after.close();
    }
  });
});

function ctxWithKey(key: string): Context {
  return new Context({ idempotencyKey: key, operation: 'payments.charge' });
}

/** `store`, telling `onBegin` what each `begin` answered (to see a duplicate arrive and wait). */
function observed(store: IdempotencyStore, onBegin: (state: BeginResult['state']) => void): IdempotencyStore {
  return {
    begin: async (key, print, now, leaseUntil) => {
      const result = await store.begin(key, print, now, leaseUntil);
      onBegin(result.state);
      return result;
    },
    complete: (key, token, record) => store.complete(key, token, record),
    release: (key, token) => store.release(key, token),
    peek: (key, now) => store.peek(key, now),
    purgeExpired: (now) => store.purgeExpired(now),
    close: () => store.close(),
  };
}
