/**
 * Courier's message pipeline above the `Broker` interface: `consume` (decode → validate → inbox → middleware →
 * handler → retry with backoff → DLQ) and `publishEvent` (validate → encode → envelope → publish).
 */
export { consume, consumeEvent } from './consume.js';
export type { CloseOptions, Consumer, ConsumerStats } from './consumer.js';
export { BodyDecodeError, MessageDecoder, type Decoded } from './decode.js';
export type { ConsumerEvent, ConsumerEventType } from './events.js';
export type { Inbox, InboxStatus } from './inbox.js';
export type { BackoffSettings, ConsumeOptions, ConsumedMessage, MessageHandler } from './options.js';
export { dataschemaOf, eventMessage, publishEvent, topicOf, type PublishEventOptions } from './publish.js';
export { retryDelay } from './retry-delay.js';
