/**
 * Options of `remoteBroker` and their defaults.
 */
import type { Clock } from '../../core/clock.js';
import { positiveInt } from '../adapter-kit/options.js';
import { checkAddress, type RemoteAddress } from './address.js';
import { MIN_PROTOCOL_VERSION, PROTOCOL_VERSION } from './protocol.js';

export type RemoteBrokerOptions = RemoteAddress & {
  /** Time source for leases, reconnect backoff and the timeouts below. Default: the system clock. */
  readonly clock?: Clock;
  /** How long `remoteBroker()` keeps trying to make the first connection, in ms. Default 10 000. */
  readonly connectTimeoutMs?: number;
  /**
   * After the connection is lost, how long publishes and requests wait for a reconnect before they fail
   * with `RemoteBrokerUnavailableError` (new ones fail at once from then on, until the server is back),
   * in ms. Default 30 000.
   */
  readonly unavailableTimeoutMs?: number;
  /** Reconnect backoff (decorrelated jitter between `baseMs` and `maxMs`). Default 25 / 1000 ms. */
  readonly reconnect?: { readonly baseMs?: number; readonly maxMs?: number };
  /** Most publishes sent and not yet acknowledged; more wait in the client, in order. Default 8192. */
  readonly maxInFlight?: number;
  /** Errors no caller can receive (a failed settlement after a handler returned). Default: `process.emitWarning`. */
  readonly onError?: (error: unknown) => void;
  /** Uniform random in [0, 1) for backoff jitter. Default `Math.random`. */
  readonly random?: () => number;
  /**
   * Highest wire protocol version to offer (`protocol.ts`). Default: the newest this client speaks. A lower
   * one is for tests and for trying a mixed deployment ahead of time; an older server is handled anyway.
   */
  readonly protocol?: number;
};

export interface ResolvedRemoteOptions {
  readonly address: RemoteAddress;
  readonly connectTimeoutMs: number;
  readonly unavailableTimeoutMs: number;
  readonly baseMs: number;
  readonly maxMs: number;
  readonly maxInFlight: number;
  readonly random: () => number;
  readonly protocol: number;
}

export function resolveRemoteOptions(options: RemoteBrokerOptions): ResolvedRemoteOptions {
  checkAddress(options, 'remoteBroker');
  const address: RemoteAddress = 'socketPath' in options ? { socketPath: options.socketPath } : { port: options.port };
  const baseMs = positiveInt(options.reconnect?.baseMs, 25, 'reconnect.baseMs');
  return {
    address,
    connectTimeoutMs: positiveInt(options.connectTimeoutMs, 10_000, 'connectTimeoutMs'),
    unavailableTimeoutMs: positiveInt(options.unavailableTimeoutMs, 30_000, 'unavailableTimeoutMs'),
    baseMs,
    maxMs: Math.max(baseMs, positiveInt(options.reconnect?.maxMs, 1000, 'reconnect.maxMs')),
    maxInFlight: positiveInt(options.maxInFlight, 8192, 'maxInFlight'),
    random: options.random ?? Math.random,
    protocol: protocolOption(options.protocol),
  };
}

function protocolOption(value: number | undefined): number {
  if (value === undefined) return PROTOCOL_VERSION;
  if (!Number.isInteger(value) || value < MIN_PROTOCOL_VERSION || value > PROTOCOL_VERSION) {
    throw new RangeError(`protocol must be an integer from ${MIN_PROTOCOL_VERSION} to ${PROTOCOL_VERSION}`);
  }
  return value;
}
