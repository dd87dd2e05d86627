/**
 * Confirmed publishing that survives connection loss.
 *
 * `publish` resolves when the broker confirms the message (publisher confirms), and only then. If the channel
 * or connection dies before the confirm, the message is published again on the next channel, which the
 * connector brings up with backoff: a publish waits through an outage instead of failing, and may be stored
 * twice (at-least-once). It rejects when the broker refuses the message (a `basic.nack`, or a channel error
 * with a reply code such as 404/406: those do not heal by retrying) or when the broker is closed.
 *
 * Declarations needed before a publish (exchange, retry/delay queue) are made once per channel, and again
 * after `declareMaxAgeMs` when given: a queue with `x-expires` counts only declarations (not publishes) as
 * use, so it must be redeclared well within its expiry or it would vanish under a steady stream of
 * publishes, which would then be dropped as unroutable.
 */
import type { ConfirmChannel, Options } from 'amqplib';
import { ClosedError } from '../../core/errors.js';
import type { AmqpConnector } from './connector.js';

export type Declare = (ch: ConfirmChannel) => Promise<void>;

export interface Declaration {
  readonly key: string;
  readonly declare: Declare;
  /** Declare again when the last declaration on this channel is older than this. Default: never. */
  readonly maxAgeMs?: number;
}

export class AmqpPublisher {
  private channel: Promise<ConfirmChannel> | undefined;
  private readonly declared = new WeakMap<ConfirmChannel, Map<string, { done: Promise<void>; at: number }>>();
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;

  constructor(
    private readonly connector: AmqpConnector,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Publish and wait for the confirm; make `declaration` (once per channel) first. */
  publish(exchange: string, routingKey: string, content: Buffer, options: Options.Publish, declaration?: Declaration): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError('amqp broker'));
    const work = this.publishWithRetry(exchange, routingKey, content, options, declaration);
    this.inFlight.add(work);
    void work.catch(() => undefined).finally(() => this.inFlight.delete(work));
    return work;
  }

  /** Wait for publishes in flight, then close the channel. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
    this.closed = true;
    const channel = this.channel;
    this.channel = undefined;
    if (channel !== undefined) await channel.then((ch) => ch.close()).catch(() => undefined);
  }

  private async publishWithRetry(exchange: string, routingKey: string, content: Buffer, options: Options.Publish, declaration?: Declaration): Promise<void> {
    for (let failures = 0; ; failures++) {
      try {
        const ch = await this.currentChannel();
        if (declaration !== undefined) await this.declareOnce(ch, declaration);
        await confirmPublish(ch, exchange, routingKey, content, options);
        return;
      } catch (error) {
        if (this.closed || error instanceof ClosedError || isRefusal(error)) throw error;
        this.onError(error);
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 20 * 2 ** Math.min(failures, 6))));
      }
    }
  }

  private currentChannel(): Promise<ConfirmChannel> {
    if (this.channel !== undefined) return this.channel;
    const opening = this.openChannel();
    this.channel = opening;
    opening.catch(() => {
      if (this.channel === opening) this.channel = undefined;
    });
    return opening;
  }

  private async openChannel(): Promise<ConfirmChannel> {
    const model = await this.connector.current();
    const ch = await model.createConfirmChannel();
    ch.on('error', this.onError);
    const mine = this.channel;
    ch.once('close', () => {
      if (this.channel === mine) this.channel = undefined;
    });
    return ch;
  }

  private declareOnce(ch: ConfirmChannel, d: Declaration): Promise<void> {
    let cache = this.declared.get(ch);
    if (cache === undefined) this.declared.set(ch, (cache = new Map()));
    const now = Date.now();
    const entry = cache.get(d.key);
    if (entry !== undefined && (d.maxAgeMs === undefined || now - entry.at < d.maxAgeMs)) return entry.done;
    const done = d.declare(ch);
    cache.set(d.key, { done, at: now });
    done.catch(() => cache.delete(d.key));
    return done;
  }
}

function confirmPublish(ch: ConfirmChannel, exchange: string, routingKey: string, content: Buffer, options: Options.Publish): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    try {
      ch.publish(exchange, routingKey, content, options, (error: unknown) => (error ? reject(toError(error)) : resolve()));
    } catch (error) {
      reject(toError(error)); // IllegalOperationError: the channel is already closed
    }
  });
}

/** The broker said no (nack, or a channel error with an AMQP reply code): retrying the same way won't help. */
function isRefusal(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.message === 'message nacked') return true;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' && code >= 400 && code < 600 && code !== 320 && code !== 541;
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
