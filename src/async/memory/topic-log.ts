/**
 * A topic's messages in publish order, numbered from 1. Retention trims from the front: by count, by age, and
 * never past what a group still needs (its low-water mark), so an unconsumed message is never dropped.
 */
export interface StoredMessage {
  readonly sequence: number;
  readonly topic: string;
  readonly id: string;
  readonly key: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  readonly publishedAt: number;
  readonly notBefore: number;
}

export interface Retention {
  /** Keep at most this many consumed messages for replay. Default 10 000. */
  readonly maxMessages?: number;
  /** Drop consumed messages older than this. Default: no age limit. */
  readonly maxAgeMs?: number;
}

export class TopicLog {
  private messages: StoredMessage[] = [];
  private first = 1;

  constructor(
    readonly topic: string,
    private readonly retention: Required<Pick<Retention, 'maxMessages'>> & Retention,
  ) {}

  get firstSequence(): number {
    return this.first;
  }

  get nextSequence(): number {
    return this.first + this.messages.length;
  }

  append(message: Omit<StoredMessage, 'sequence' | 'topic'>): StoredMessage {
    const stored: StoredMessage = { ...message, topic: this.topic, sequence: this.nextSequence };
    this.messages.push(stored);
    return stored;
  }

  get(sequence: number): StoredMessage | undefined {
    return this.messages[sequence - this.first];
  }

  /** First sequence published at or after `time`, or the next sequence when none is. */
  sequenceAtTime(time: number): number {
    const i = this.messages.findIndex((m) => m.publishedAt >= time);
    return i < 0 ? this.nextSequence : this.first + i;
  }

  /** Drop messages before `lowWater` (the lowest sequence any group still needs) that retention lets go. */
  trim(lowWater: number, now: number): void {
    let drop = 0;
    const consumed = Math.max(0, Math.min(lowWater, this.nextSequence) - this.first);
    const overCount = this.messages.length - this.retention.maxMessages;
    while (drop < consumed) {
      const m = this.messages[drop]!;
      const tooMany = drop < overCount;
      const tooOld = this.retention.maxAgeMs !== undefined && now - m.publishedAt > this.retention.maxAgeMs;
      if (!tooMany && !tooOld) break;
      drop++;
    }
    if (drop > 0) {
      this.messages = this.messages.slice(drop);
      this.first += drop;
    }
  }
}
