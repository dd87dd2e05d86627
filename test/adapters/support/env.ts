/**
 * Which brokers the adapter tests can reach. Each broker's URL comes from the environment variable that
 * `scripts/brokers.sh env` prints, with the script's default port as fallback. A broker that does not
 * answer skips its tests locally (with a message saying how to start it) and fails the run in CI
 * (`CI=true`), so a CI job never goes green without having tested an adapter.
 */
import { connect } from 'node:net';

export interface BrokerTarget {
  readonly name: string;
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly available: boolean;
}

const DEFAULTS: Record<string, { env: string; url: string }> = {
  redis: { env: 'COURIER_REDIS_URL', url: 'redis://127.0.0.1:16379' },
  rabbitmq: { env: 'COURIER_AMQP_URL', url: 'amqp://guest:guest@127.0.0.1:15682' },
  nats: { env: 'COURIER_NATS_URL', url: 'nats://127.0.0.1:14222' },
  mosquitto: { env: 'COURIER_MQTT_URL', url: 'mqtt://127.0.0.1:11883' },
};

/** Resolve and probe a broker (TCP connect within 1 s). Throws in CI when it is not reachable. */
export async function brokerTarget(name: 'redis' | 'rabbitmq' | 'nats' | 'mosquitto'): Promise<BrokerTarget> {
  const spec = DEFAULTS[name]!;
  const url = process.env[spec.env] ?? spec.url;
  const parsed = new URL(url);
  const host = parsed.hostname;
  const port = Number(parsed.port);
  const available = await reachable(host, port);
  if (!available) {
    const message = `${name} is not reachable at ${host}:${port} (${spec.env}); start it with: scripts/brokers.sh start ${name}`;
    if (process.env.CI === 'true') throw new Error(`CI: ${message}`);
    console.warn(`skipping ${name} adapter tests: ${message}`);
  }
  return { name, url, host, port, available };
}

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** A name no other test run uses, for topics and groups. */
export function unique(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}
