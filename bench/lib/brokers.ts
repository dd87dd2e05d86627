/**
 * Reaching the anchor brokers (Redis, RabbitMQ, …) from a benchmark suite, through `scripts/brokers.sh`:
 * a broker already running is used as it is; one that is not is started, and stopped again by `release()`
 * (only the ones this suite started: another user of the machine may rely on the others). A broker that
 * cannot be started is reported as missing with the reason, so the suite can report that result as missing
 * instead of failing whole.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export type AnchorBroker = 'redis' | 'rabbitmq' | 'nats' | 'mosquitto' | 'postgres';

export interface Anchors {
  /** Port of each broker that is up. */
  readonly ports: Partial<Record<AnchorBroker, number>>;
  /** Why a broker is not available. */
  readonly missing: Partial<Record<AnchorBroker, string>>;
  /** Stop the brokers this call started. */
  release(): Promise<void>;
}

const script = fileURLToPath(new URL('../../scripts/brokers.sh', import.meta.url));

function run(args: readonly string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', [script, ...args], { timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** `name port up|down` lines → ports of those up. */
function parseStatus(stdout: string): Map<string, { port: number; up: boolean }> {
  const out = new Map<string, { port: number; up: boolean }>();
  for (const line of stdout.split('\n')) {
    const [name, port, state] = line.trim().split(/\s+/);
    if (name !== undefined && port !== undefined && /^\d+$/.test(port)) out.set(name, { port: Number(port), up: state === 'up' });
  }
  return out;
}

/** Make `names` available: use running ones, start the others (at most `timeoutMs` each). */
export async function ensureAnchors(names: readonly AnchorBroker[], timeoutMs = 90_000): Promise<Anchors> {
  const ports: Partial<Record<AnchorBroker, number>> = {};
  const missing: Partial<Record<AnchorBroker, string>> = {};
  const started: AnchorBroker[] = [];
  const status = parseStatus((await run(['status', ...names], 30_000)).stdout);
  for (const name of names) {
    const s = status.get(name);
    if (s?.up) {
      ports[name] = s.port;
      continue;
    }
    const result = await run(['start', name], timeoutMs);
    const after = parseStatus((await run(['status', name], 30_000)).stdout).get(name);
    if (result.code === 0 && after?.up) {
      ports[name] = after.port;
      started.push(name);
    } else {
      const reason = (result.stderr.trim().split('\n').pop() ?? '').slice(0, 200) || `exit ${result.code}`;
      missing[name] = `could not start ${name} (${reason}); try scripts/brokers.sh install ${name}`;
    }
  }
  return {
    ports,
    missing,
    release: async () => {
      if (started.length > 0) await run(['stop', ...started], 60_000);
    },
  };
}
