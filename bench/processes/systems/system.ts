/**
 * One messaging system as the broker benchmark drives it, from either side. Each adapter uses its client
 * the way its documentation recommends for durable work queues; see the files next to this one.
 */
export interface ProducerSide {
  publish(topic: string, body: Buffer): Promise<void>;
  close(): Promise<void>;
}

export interface ConsumerSide {
  /**
   * Consume `topic` (creating it, so that what is published from now on is kept), calling `onMessage` with
   * each message's body (or its send time, for systems that carry JSON) and acknowledging it.
   */
  consume(topic: string, prefetch: number, onMessage: (sentAtMs: number) => void): Promise<{ stop(): Promise<void> }>;
  close(): Promise<void>;
}
