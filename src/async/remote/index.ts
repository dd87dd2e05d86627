/**
 * `courier/remote`: reach a broker owned by another process on this machine (typically the embedded
 * broker) through a small local server with the same semantics.
 */
export { serveBroker, type BrokerServer, type ServeOptions } from './serve-broker.js';
export { remoteBroker, RemoteBroker } from './remote-broker.js';
export type { RemoteBrokerOptions } from './remote-options.js';
export type { RemoteAddress } from './address.js';
export { RemoteBrokerUnavailableError, RemoteBrokerError, ProtocolError } from './remote-errors.js';
export { PROTOCOL_VERSION } from './protocol.js';
