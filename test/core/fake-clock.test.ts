import { describe, expect, it } from 'vitest';
import { CancelSource } from '../../src/core/cancel.js';
import { sleep } from '../../src/core/clock.js';
import { FakeClock } from '../../src/testing/fake-clock.js';

describe('FakeClock timers', () => {
  it('fire in deadline order, ties in creation order, each at its own time', async () => {
    const clock = new FakeClock(0);
    const fired: Array<[string, number]> = [];
    const at = (name: string) => () => fired.push([name, clock.now()]);
    clock.setTimeout(at('c30'), 30);
    clock.setTimeout(at('a10'), 10);
    clock.setTimeout(at('b20-first'), 20);
    clock.setTimeout(at('b20-second'), 20);
    clock.setTimeout(at('zero'), 0);
    await clock.advance(25);
    expect(fired).toEqual([
      ['zero', 0],
      ['a10', 10],
      ['b20-first', 20],
      ['b20-second', 20],
    ]);
    expect(clock.now()).toBe(25);
    expect(clock.pending).toBe(1);
    await clock.advance(5);
    expect(fired.at(-1)).toEqual(['c30', 30]);
  });

  it('does not move time or fire anything until told', async () => {
    const clock = new FakeClock(1000);
    let fired = false;
    clock.setTimeout(() => (fired = true), 1);
    await Promise.resolve();
    expect(clock.now()).toBe(1000);
    expect(fired).toBe(false);
  });

  it('clearTimeout cancels a pending timer; clearing a fired or foreign handle is harmless', async () => {
    const clock = new FakeClock(0);
    const fired: string[] = [];
    const keep = clock.setTimeout(() => fired.push('keep'), 10);
    const drop = clock.setTimeout(() => fired.push('drop'), 10);
    clock.clearTimeout(drop);
    expect(clock.pending).toBe(1);
    await clock.advance(10);
    expect(fired).toEqual(['keep']);
    clock.clearTimeout(keep);
    clock.clearTimeout({});
    expect(clock.pending).toBe(0);
  });

  it('fires timers that callbacks schedule within the same advance', async () => {
    const clock = new FakeClock(0);
    const fired: number[] = [];
    clock.setTimeout(() => {
      fired.push(clock.now());
      clock.setTimeout(() => fired.push(clock.now()), 5);
    }, 5);
    await clock.advance(10);
    expect(fired).toEqual([5, 10]);
  });

  it('advance refuses to go backwards', async () => {
    const clock = new FakeClock(100);
    await expect(clock.advance(-1)).rejects.toThrow(RangeError);
    await expect(clock.advance(Number.NaN)).rejects.toThrow(RangeError);
    expect(clock.now()).toBe(100);
  });

  it('runAll fires everything, moving time to each timer', async () => {
    const clock = new FakeClock(0);
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(clock.now()), 50);
    clock.setTimeout(() => fired.push(clock.now()), 10);
    expect(await clock.runAll()).toBe(2);
    expect(fired).toEqual([10, 50]);
    expect(clock.now()).toBe(50);
  });
});

describe('FakeClock settles awaits between timers', () => {
  it('code of the form `await sleep(); await next()` runs as on a real clock', async () => {
    const clock = new FakeClock(0);
    const log: string[] = [];
    const worker = (async () => {
      await sleep(10, clock);
      log.push(`woke ${clock.now()}`);
      await sleep(10, clock); // scheduled only after the first await resolved
      log.push(`woke ${clock.now()}`);
    })();
    await clock.advance(20);
    expect(log).toEqual(['woke 10', 'woke 20']);
    await worker;
  });

  it('settles long chains of awaits (nested async layers) between timers', async () => {
    const clock = new FakeClock(0);
    const log: number[] = [];
    // Each layer adds several microtask turns, as a stack of async middleware does.
    const deep = async (depth: number): Promise<void> => {
      if (depth === 0) return;
      await Promise.resolve();
      await deep(depth - 1);
    };
    const worker = (async () => {
      for (let i = 0; i < 3; i++) {
        await sleep(10, clock);
        await deep(40);
        log.push(clock.now());
      }
    })();
    await clock.advance(30);
    expect(log).toEqual([10, 20, 30]);
    await worker;
  });

  it('a sleep cancelled through its token rejects and clears its timer', async () => {
    const clock = new FakeClock(0);
    const source = new CancelSource();
    const slept = sleep(100, clock, source);
    expect(clock.pending).toBe(1);
    source.cancel(new Error('stop'));
    await expect(slept).rejects.toThrow('stop');
    expect(clock.pending).toBe(0);
  });
});
