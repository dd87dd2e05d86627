/**
 * One messaging system as the broker benchmark drives it, from either side. Each adapter uses its client
 * the way its documentation recommends for durable work queues; see the files next to this one.
 */
export interface ProducerSide {
  /**
   * Settles when the system acknowledged the message as stored. Adapters return their client's own promise
   * where that is all there is to it (no async wrapper: a wrapper costs the producer process a promise and
   * a microtask per message, which is harness overhead, not the system's).
   */
  publish(topic: string, body: Buffer): Promise<unknown>;
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
