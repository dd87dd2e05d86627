/**
 * One consumer of a Redis consumer group: a read loop on its own connection plus the settlement of what it
 * receives.
 *
 * Loop, while the dispatcher has free slots:
 * 1. every `pollMs` (or at once after a local nack): move due scheduled publishes into the stream, then
 *    claim due retries and, every lease scan interval, entries whose lease ran out (`lua.ts` CLAIM);
 * 2. `XREADGROUP … COUNT <free slots> BLOCK <pollMs> STREAMS <stream> >` for new entries (attempt 1).
 *
 * Settlement (see `Settlement` in the adapter kit):
 * - ack: `XACK`, batched: the acks of one event-loop turn share one XACK (`ack-batcher.ts`);
 * - nack / release: the entry stays in the group's pending list and enters the retry set, due now or after
 *   the delay; any consumer of the group claims it when due, counting an attempt;
 * - extend: reset the entry's idle time (`XCLAIM … JUSTID`), repeated every half lease for long extensions;
 * - lease expiry: nothing to undo; the next regular lease scan (here or in another consumer) claims the entry.
 * Nack and extend act only while this consumer still owns the entry (`OWNED` script).
 */
import type { Redis } from 'ioredis';
import type { Clock } from '../../core/clock.js';
import type { DeliveryHandler, ReceivedMessage, Subscription } from '../broker.js';
import { Dispatcher, type Settlement } from '../adapter-kit/dispatcher.js';
import { AckBatcher } from './ack-batcher.js';
import { LeaseKeeper } from '../adapter-kit/lease-keeper.js';
import { fromFields } from './headers.js';
import { claimScript, ownedScript, promoteScript } from './lua.js';
import { idTime, idToSequence } from './stream-id.js';

export interface RedisSubscriptionContext {
  readonly topic: string;
  readonly group: string;
  readonly consumer: string;
  readonly stream: string;
  readonly retry: string;
  readonly schedule: string;
  readonly main: Redis;
  readonly blocking: Redis;
  readonly clock: Clock;
  readonly prefetch: number;
  readonly leaseMs: number;
  readonly pollMs: number;
  readonly trimArgs: readonly string[];
  readonly onError: (error: unknown) => void;
  readonly onClosed: (subscription: RedisSubscription) => void;
}

/** Most pending entries one lease scan looks at. */
const SCAN_LIMIT = 10_000;
/** Scheduled publishes moved per pass. */
const PROMOTE_BATCH = 256;

export class RedisSubscription implements Subscription {
  private readonly dispatcher: Dispatcher<string>;
  private readonly keeper: LeaseKeeper<string>;
  private readonly acks: AckBatcher;
  private readonly releases = new Set<Promise<void>>();
  private readonly leaseScanMs: number;
  private stopping = false;
  private stop: () => void = () => undefined;
  private readonly stopped = new Promise<void>((resolve) => (this.stop = resolve));
  private loopDone: Promise<void> = Promise.resolve();
  private nextPoll = 0;
  private nextLeaseScan = 0;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly ctx: RedisSubscriptionContext,
    handler: DeliveryHandler,
  ) {
    this.acks = new AckBatcher(ctx.main, ctx.stream, ctx.group);
    this.keeper = new LeaseKeeper(ctx.clock, ctx.leaseMs, (entryId) => this.touch(entryId), ctx.onError);
    this.leaseScanMs = Math.min(1000, Math.max(ctx.pollMs, Math.floor(ctx.leaseMs / 4)));
    this.dispatcher = new Dispatcher<string>({
      prefetch: ctx.prefetch,
      leaseMs: ctx.leaseMs,
      clock: ctx.clock,
      handler,
      settlement: this.settlement,
      onError: ctx.onError,
    });
  }

  get topic(): string {
    return this.ctx.topic;
  }

  get group(): string {
    return this.ctx.group;
  }

  /** Deliveries handed to the handler and not settled. */
  get inFlight(): number {
    return this.dispatcher.unsettled;
  }

  start(): void {
    this.loopDone = this.loop();
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.stopping = true;
    this.stop();
    await this.loopDone;
    await this.dispatcher.close();
    await this.acks.drain();
    await Promise.allSettled([...this.releases]);
    this.keeper.stopAll();
    try {
      const mine = (await this.ctx.main.call('XPENDING', this.ctx.stream, this.ctx.group, '-', '+', 1, this.ctx.consumer)) as unknown[];
      if (mine.length === 0) await this.ctx.main.call('XGROUP', 'DELCONSUMER', this.ctx.stream, this.ctx.group, this.ctx.consumer);
    } catch (error) {
      this.ctx.onError(error);
    }
    this.ctx.blocking.disconnect();
    this.ctx.onClosed(this);
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      await Promise.race([this.dispatcher.waitForSlot(), this.stopped]);
      if (this.stopping || this.dispatcher.free === 0) continue;
      try {
        await this.pollBackground();
        const free = this.dispatcher.free;
        if (free > 0 && !this.stopping) await this.readNew(free);
        failures = 0;
      } catch (error) {
        if (this.stopping) break;
        this.ctx.onError(error);
        failures++;
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** Math.min(failures, 5))));
      }
    }
  }

  /** Scheduled publishes and claims, at most every `pollMs` unless a local nack asked for one sooner. */
  private async pollBackground(): Promise<void> {
    const now = this.ctx.clock.now();
    if (now < this.nextPoll) return;
    this.nextPoll = now + this.ctx.pollMs;
    await promoteScript.run(this.ctx.main, [this.ctx.stream, this.ctx.schedule], [now, PROMOTE_BATCH, ...this.ctx.trimArgs]);
    const scanLeases = now >= this.nextLeaseScan;
    if (scanLeases) this.nextLeaseScan = now + this.leaseScanMs;
    const free = this.dispatcher.free;
    if (free === 0) return;
    const reply = (await claimScript.run(
      this.ctx.main,
      [this.ctx.stream, this.ctx.retry],
      [this.ctx.group, this.ctx.consumer, now, free, scanLeases ? this.ctx.leaseMs : -1, SCAN_LIMIT],
    )) as unknown[];
    for (let i = 0; i + 2 < reply.length; i += 3) {
      this.accept(String(reply[i]), Number(reply[i + 1]), reply[i + 2] as Buffer[]);
    }
  }

  private async readNew(free: number): Promise<void> {
    const reply = (await this.ctx.blocking.callBuffer(
      'XREADGROUP', 'GROUP', this.ctx.group, this.ctx.consumer,
      'COUNT', free, 'BLOCK', this.ctx.pollMs, 'STREAMS', this.ctx.stream, '>',
    )) as Array<[Buffer, Array<[Buffer, Buffer[] | null]>]> | null;
    if (reply === null) return;
    for (const [, entries] of reply) {
      for (const [id, fields] of entries) if (fields !== null) this.accept(id.toString(), 1, fields);
    }
  }

  private accept(entryId: string, attempt: number, fields: Buffer[]): void {
    if (this.stopping || this.dispatcher.free === 0) {
      this.track(this.retryAt(entryId, this.ctx.clock.now()));
      return;
    }
    const content = fromFields(entryId, fields);
    const message: ReceivedMessage = {
      id: content.id,
      topic: this.ctx.topic,
      key: content.key,
      headers: content.headers,
      body: content.body,
      attempt,
      sequence: idToSequence(entryId),
      publishedAt: idTime(entryId),
    };
    this.dispatcher.dispatch(message, entryId);
  }

  private readonly settlement: Settlement<string> = {
    ack: (entryId) => {
      this.keeper.stop(entryId);
      return this.acks.ack(entryId);
    },
    nack: async (entryId, delayMs) => {
      this.keeper.stop(entryId);
      const now = this.ctx.clock.now();
      await this.retryAt(entryId, now + delayMs);
      if (delayMs === 0) this.nextPoll = 0;
    },
    extend: (entryId, ms) => this.keeper.extend(entryId, ms),
    expire: async (entryId) => {
      // The entry goes back to the group: any consumer's next lease scan claims it. Not this one's at once:
      // a consumer that let a lease run out (stuck, or slow) would otherwise win its own message back
      // before the others had a chance, every time.
      this.keeper.stop(entryId);
    },
    release: async (entryId) => {
      this.keeper.stop(entryId);
      await this.retryAt(entryId, this.ctx.clock.now());
    },
  };

  private async retryAt(entryId: string, due: number): Promise<void> {
    await ownedScript.run(this.ctx.main, [this.ctx.stream, this.ctx.retry], [this.ctx.group, this.ctx.consumer, entryId, 'retry', due]);
  }

  private async touch(entryId: string): Promise<void> {
    await ownedScript.run(this.ctx.main, [this.ctx.stream, this.ctx.retry], [this.ctx.group, this.ctx.consumer, entryId, 'touch', 0]);
  }

  private track(work: Promise<void>): void {
    const tracked = work.catch(this.ctx.onError).finally(() => this.releases.delete(tracked));
    this.releases.add(tracked);
  }
}
