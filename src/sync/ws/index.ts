/** `courier/ws`: contracts served over WebSocket (calls, and server push of events with acks and resume). */
export { WsClientTransport, type WsClientOptions, ws } from './client.js';
export {
  WsSubscription,
  type PushContext,
  type PushGap,
  type PushHandler,
  type SubscribeOptions,
} from './client-subscription.js';
export { CloseCode } from './close-codes.js';
export type { GapReason, PushedEvent } from './frames.js';
export type { RetentionOptions } from './push-log.js';
export type { SubscriptionStats } from './server-subscription.js';
export { WsServer, type PublishOptions, type WsServerOptions, type WsServerStats, wsServer } from './server.js';
