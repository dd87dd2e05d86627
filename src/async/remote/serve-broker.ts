/**
 * `serveBroker(broker, { socketPath } | { port })`: expose any `Broker` to other processes on this machine,
 * for `remoteBroker` clients (protocol in `protocol.ts`). The typical use is the embedded broker, whose
 * SQLite file one process must own: that process serves it, the others connect.
 *
 * ```ts
 * const broker = embeddedBroker({ dir: './data/broker' });
 * const server = await serveBroker(broker, { socketPath: './data/broker.sock' });
 * // elsewhere: const remote = await remoteBroker({ socketPath: './data/broker.sock' });
 * ```
 *
 * The server listens on a Unix socket or on 127.0.0.1 only (the protocol has no authentication: whoever
 * can open the socket can use the broker, so put the socket in a directory only its users can reach).
 * A stale socket file left by a killed owner is replaced; a live one is an error. `close()` stops
 * listening, closes every client's subscriptions (their unsettled deliveries go back to the group),
 * answers publishes already handed to the broker, and ends the connections. It does not close the broker.
 */
import { createServer, type Server } from 'node:net';
import { unlink } from 'node:fs/promises';
import type { Broker } from '../broker.js';
import { checkAddress, claimSocketPath, LOOPBACK, type RemoteAddress } from './address.js';
import { ServerSession } from './server-session.js';

export type ServeOptions = RemoteAddress & {
  /** Errors no caller can receive (a failing subscription close after a client vanished). Default: `process.emitWarning`. */
  readonly onError?: (error: unknown) => void;
  /** How long `close()` waits for clients to hang up before cutting them off, in ms. Default 5000. */
  readonly closeGraceMs?: number;
};

export interface BrokerServer {
  /** Where it listens (with the actual port when `port: 0` was asked for). */
  readonly address: RemoteAddress;
  /** Clients connected now. */
  readonly connections: number;
  /**
   * Cut every client connection at once, answering nothing, as if this process had died (the clients
   * reconnect; their subscriptions' unsettled deliveries go back to the group). For failover drills and tests.
   */
  disconnectAll(): void;
  close(): Promise<void>;
}

export async function serveBroker(broker: Broker, options: ServeOptions): Promise<BrokerServer> {
  checkAddress(options, 'serveBroker');
  const onError = options.onError ?? reportError;
  const sessions = new Set<ServerSession>();
  const server = createServer({ noDelay: true }, (socket) => {
    const session = new ServerSession(socket, broker, onError);
    sessions.add(session);
    void session.ended.then(() => {
      sessions.delete(session);
    });
  });
  server.on('error', onError);
  const address = await listen(server, options);
  let closing: Promise<void> | undefined;
  return {
    address,
    get connections() {
      return sessions.size;
    },
    disconnectAll: () => {
      for (const session of sessions) session.cut();
    },
    close: () => (closing ??= shutdown(server, sessions, options.closeGraceMs ?? 5000, address)),
  };
}

async function listen(server: Server, options: RemoteAddress): Promise<RemoteAddress> {
  if ('socketPath' in options) await claimSocketPath(options.socketPath);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      resolve();
    };
    if ('socketPath' in options) server.listen(options.socketPath, done);
    else server.listen(options.port, LOOPBACK, done);
  });
  if ('socketPath' in options) return { socketPath: options.socketPath };
  const bound = server.address();
  return { port: typeof bound === 'object' && bound !== null ? bound.port : options.port };
}

async function shutdown(server: Server, sessions: Set<ServerSession>, graceMs: number, address: RemoteAddress): Promise<void> {
  const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
  const grace = setTimeout(() => {
    for (const session of sessions) session.cut();
  }, graceMs);
  try {
    await Promise.all([...sessions].map((s) => s.shutdown()));
  } finally {
    clearTimeout(grace);
  }
  await stopped;
  if ('socketPath' in address) await unlink(address.socketPath).catch(() => undefined);
}

function reportError(error: unknown): void {
  process.emitWarning(error instanceof Error ? error : new Error(String(error)), { code: 'COURIER_BROKER_SERVER' });
}
