/**
 * One AMQP connection that comes back. amqplib does not reconnect; this does, with capped, jittered backoff
 * (`backoffDelay`, decorrelated), for as long as the broker is open. Users of the connection ask `current()`
 * whenever they need it (it waits while a reconnect is under way) and redo their own setup on a new one:
 * the publisher re-publishes unconfirmed messages, subscriptions re-declare and consume again.
 */
import { connect, type ChannelModel, type Options } from 'amqplib';
import { ClosedError } from '../../core/errors.js';
import { backoffDelay } from '../../policies/backoff.js';

export interface ConnectorOptions {
  readonly url: string | Options.Connect;
  readonly socketOptions?: unknown;
  readonly baseMs: number;
  readonly maxMs: number;
  readonly onError: (error: unknown) => void;
}

export class AmqpConnector {
  private model: Promise<ChannelModel> | undefined;
  private closed = false;
  /** Increments with every connection made; lets users tell an old channel from a new one. */
  generation = 0;

  constructor(private readonly options: ConnectorOptions) {}

  /** The live connection, connecting (with retries) if there is none. Rejects only once closed. */
  current(): Promise<ChannelModel> {
    if (this.closed) return Promise.reject(new ClosedError('amqp broker'));
    this.model ??= this.connectWithRetry();
    return this.model;
  }

  async close(): Promise<void> {
    this.closed = true;
    const model = this.model;
    this.model = undefined;
    if (model === undefined) return;
    try {
      await (await model).close();
    } catch {
      // already gone
    }
  }

  private async connectWithRetry(): Promise<ChannelModel> {
    let retry = 0;
    let previous = this.options.baseMs;
    for (;;) {
      if (this.closed) throw new ClosedError('amqp broker');
      try {
        const model = await connect(this.options.url, this.options.socketOptions);
        this.generation++;
        model.on('error', this.options.onError);
        model.once('close', () => {
          // Forget it, so the next `current()` reconnects; nothing to do on our own close.
          if (!this.closed) this.model = undefined;
        });
        if (this.closed) {
          await model.close().catch(() => undefined);
          throw new ClosedError('amqp broker');
        }
        return model;
      } catch (error) {
        if (this.closed) throw error instanceof ClosedError ? error : new ClosedError('amqp broker', { cause: error });
        this.options.onError(error);
        retry++;
        previous = backoffDelay(retry, previous, { baseMs: this.options.baseMs, maxMs: this.options.maxMs, jitter: 'decorrelated', random: Math.random });
        await new Promise((resolve) => setTimeout(resolve, previous));
      }
    }
  }
}
