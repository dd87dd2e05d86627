/**
 * Where a broker server listens: a Unix socket path (preferred: no TCP stack, file permissions guard it) or
 * a TCP port on 127.0.0.1 (never another interface: the protocol has no authentication).
 */
import { connect } from 'node:net';
import { lstat, unlink } from 'node:fs/promises';

export type RemoteAddress = { readonly socketPath: string } | { readonly port: number };

export const LOOPBACK = '127.0.0.1';

export function checkAddress(address: RemoteAddress, what: string): void {
  if ('socketPath' in address) {
    if (typeof address.socketPath !== 'string' || address.socketPath === '') throw new TypeError(`${what}: socketPath must be a non-empty string`);
    return;
  }
  const port = (address as { port?: unknown }).port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`${what}: give either socketPath or a port (0–65535)`);
  }
}

export function describeAddress(address: RemoteAddress): string {
  return 'socketPath' in address ? address.socketPath : `${LOOPBACK}:${address.port}`;
}

/**
 * Make `socketPath` usable for `listen`: a socket file left by a process that died is removed; one with a
 * live server behind it is an error (two owners must not serve one name).
 */
export async function claimSocketPath(socketPath: string): Promise<void> {
  const stat = await lstat(socketPath).catch(() => undefined);
  if (stat === undefined) return;
  if (!stat.isSocket()) throw new Error(`${socketPath} exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect({ path: socketPath });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`a broker server is already listening on ${socketPath}`);
  await unlink(socketPath).catch(() => undefined);
}
