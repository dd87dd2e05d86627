/** The adapter kit's TurnBatch: what one event-loop turn adds is sent back to back at the next turn. */
import { describe, expect, it } from 'vitest';
import { TurnBatch } from '../../src/async/adapter-kit/turn-batch.js';

describe('TurnBatch', () => {
  it('sends nothing in the turn of add, then everything of that turn together, in order', async () => {
    const sent: number[] = [];
    const batch = new TurnBatch<number>((n) => sent.push(n));
    const first = batch.add(1);
    await Promise.resolve();
    const second = batch.add(2);
    expect(second).toBe(first);
    expect(sent).toEqual([]);
    await first;
    expect(sent).toEqual([1, 2]);
    const third = batch.add(3);
    expect(third).not.toBe(first);
    await third;
    expect(sent).toEqual([1, 2, 3]);
  });

  it('rejects the turn with the first error but still sends the items after it', async () => {
    const sent: number[] = [];
    const batch = new TurnBatch<number>((n) => {
      if (n === 2) throw new Error('boom 2');
      if (n === 3) throw new Error('boom 3');
      sent.push(n);
    });
    const results = [1, 2, 3, 4].map((n) => batch.add(n));
    await expect(results[0]).rejects.toThrow('boom 2');
    expect(sent).toEqual([1, 4]);
  });

  it('flush sends at once, and the scheduled turn then finds nothing left', async () => {
    const sent: number[] = [];
    const batch = new TurnBatch<number>((n) => sent.push(n));
    const done = batch.add(1);
    batch.flush();
    expect(sent).toEqual([1]);
    await done;
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toEqual([1]);
  });

  it('runs wrap once around the whole batch (to cork a socket), and sends nothing when the batch is empty', async () => {
    const log: string[] = [];
    const batch = new TurnBatch<number>(
      (n) => log.push(`send ${n}`),
      (sendAll) => {
        log.push('cork');
        sendAll();
        log.push('uncork');
      },
    );
    await Promise.all([batch.add(1), batch.add(2)]);
    batch.flush();
    expect(log).toEqual(['cork', 'send 1', 'send 2', 'uncork']);
  });
});
