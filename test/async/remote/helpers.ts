/**
 * Helpers for the remote broker tests: private socket paths, a served broker with its client(s), and a
 * Broker that closes the whole stack (client, server, served broker) when the conformance suite closes it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Broker } from '../../../src/async/broker.js';
import { remoteBroker, serveBroker, type BrokerServer, type RemoteBroker, type RemoteBrokerOptions } from '../../../src/async/remote/index.js';

export function tempDir(prefix = 'courier-remote-'): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Served {
  readonly inner: Broker;
  readonly server: BrokerServer;
  readonly remote: RemoteBroker;
  readonly socketPath: string;
  /** Close client, server and served broker. */
  close(): Promise<void>;
}

/** Serve `inner` on a fresh socket in `dir` and connect a client to it. */
export async function serve(inner: Broker, dir: string, clientOptions: Partial<RemoteBrokerOptions> = {}): Promise<Served> {
  const socketPath = join(dir, `b-${Math.random().toString(36).slice(2)}.sock`);
  const server = await serveBroker(inner, { socketPath });
  const remote = await remoteBroker({ ...clientOptions, socketPath });
  return {
    inner,
    server,
    remote,
    socketPath,
    close: async () => {
      await remote.close();
      await server.close();
      await inner.close();
    },
  };
}

/** The remote client as a Broker whose `close` tears the whole stack down. */
export function asBroker(served: Served): Broker {
  const { remote } = served;
  return {
    name: remote.name,
    features: remote.features,
    publish: (topic, message) => remote.publish(topic, message),
    subscribe: (topic, options, handler) => remote.subscribe(topic, options, handler),
    ...(remote.seek === undefined ? {} : { seek: remote.seek }),
    lag: (topic, group) => remote.lag(topic, group),
    close: () => served.close(),
  };
}

/** Poll (real time) until `condition` holds. */
export async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export function msg(n: number, extra: Record<string, unknown> = {}) {
  return { id: `m-${n}`, headers: { n: String(n) }, body: new TextEncoder().encode(`body-${n}`), ...extra };
}
