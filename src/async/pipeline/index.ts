export {
  consume,
  consumeEvent,
  redeliveryDelay,
  type Consumer,
  type ConsumeOptions,
  type Inbox,
  type MessageHandler,
  type PipelineEvent,
  type BackoffSettings,
} from './consume.js';
export { publishEvent, type PublishEventOptions } from './publish.js';
export {
  publishDeadLetter,
  readDeadLetter,
  replayDeadLetter,
  type DeadLetter,
  type DeadLetterReason,
} from './dead-letter.js';
export { topicOf, deadLetterTopicOf } from './topics.js';
