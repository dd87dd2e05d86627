import { describe, expect, it } from 'vitest';
import { Context } from '../../src/core/context.js';
import { BrokenCircuitError, CancelledError, ValidationError } from '../../src/core/errors.js';
import { type StateChange, breaker, circuitBreaker } from '../../src/policies/index.js';
import { FakeClock, flushMicrotasks } from '../../src/testing/fake-clock.js';
import { manualHandler, track } from './helpers.js';

/** A dependency whose next outcome the test sets; counts the calls that reached it. */
function dependency() {
  const state = { fail: false, calls: 0 };
  const handler = async () => {
    state.calls++;
    if (state.fail) throw new Error('dependency down');
    return 'ok';
  };
  return { state, handler };
}

const settle = (p: Promise<unknown>) => p.then(
  () => 'ok',
  (e: unknown) => (e instanceof BrokenCircuitError ? 'rejected' : 'failed'),
);

describe('circuitBreaker (consecutive)', () => {
  it('opens at its threshold and then rejects without calling the dependency', async () => {
    const clock = new FakeClock();
    const { state, handler } = dependency();
    const cb = circuitBreaker({ mode: { kind: 'consecutive', threshold: 3 }, halfOpenAfterMs: 1_000, clock });
    const call = cb(handler);
    state.fail = true;
    expect(await settle(call('x', Context.background))).toBe('failed');
    expect(await settle(call('x', Context.background))).toBe('failed');
    expect(cb.state).toBe('closed');
    expect(await settle(call('x', Context.background))).toBe('failed');
    expect(cb.state).toBe('open');
    expect(state.calls).toBe(3);

    state.fail = false;
    const rejected = await call('x', Context.background).catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(BrokenCircuitError);
    expect((rejected as BrokenCircuitError).retryAfterMs).toBe(1_000);
    for (let i = 0; i < 10; i++) expect(await settle(call('x', Context.background))).toBe('rejected');
    expect(state.calls).toBe(3);
    expect(cb.stats.rejected).toBe(11);
  });

  it('a success resets the consecutive count', async () => {
    const { state, handler } = dependency();
    const cb = breaker({ mode: { kind: 'consecutive', threshold: 2 }, clock: new FakeClock() });
    const call = cb(handler);
    for (let i = 0; i < 5; i++) {
      state.fail = true;
      await settle(call('x', Context.background));
      state.fail = false;
      await settle(call('x', Context.background));
    }
    expect(cb.state).toBe('closed');
  });

  it('lets exactly one probe through when half-open; its success closes the circuit', async () => {
    const clock = new FakeClock();
    const cb = circuitBreaker({ mode: { kind: 'consecutive', threshold: 1 }, halfOpenAfterMs: 1_000, clock });
    const { handler, calls } = manualHandler();
    const call = cb(handler);
    const first = call('x', Context.background);
    await flushMicrotasks();
    calls[0]!.reject(new Error('down'));
    await expect(first).rejects.toThrow('down');
    expect(cb.state).toBe('open');

    await clock.advance(999);
    expect(cb.state).toBe('open');
    await clock.advance(1);
    expect(cb.state).toBe('half-open');

    const outcomes = Array.from({ length: 20 }, () => track(call('x', Context.background)));
    await flushMicrotasks();
    expect(calls).toHaveLength(2); // the first failure + exactly one probe
    expect(outcomes.filter((o) => o.error instanceof BrokenCircuitError)).toHaveLength(19);
    expect(outcomes[0]!.settled).toBe(false);

    calls[1]!.resolve('recovered');
    await flushMicrotasks();
    expect(outcomes[0]!.value).toBe('recovered');
    expect(cb.state).toBe('closed');
    const after = call('x', Context.background);
    await flushMicrotasks();
    calls[2]!.resolve('fine');
    await expect(after).resolves.toBe('fine');
  });

  it('re-opens when the probe fails, restarting the timer, and emits every change in order', async () => {
    const clock = new FakeClock();
    const start = clock.now();
    const { state, handler } = dependency();
    const cb = circuitBreaker({ mode: { kind: 'consecutive', threshold: 2 }, halfOpenAfterMs: 1_000, clock });
    const changes: StateChange[] = [];
    cb.onStateChange((c) => changes.push(c));
    const call = cb(handler);

    state.fail = true;
    await settle(call('x', Context.background));
    await settle(call('x', Context.background)); // opens at t=0
    await clock.advance(1_000);
    expect(await settle(call('x', Context.background))).toBe('failed'); // probe fails at t=1000: re-open
    expect(cb.state).toBe('open');
    await clock.advance(999);
    expect(await settle(call('x', Context.background))).toBe('rejected'); // timer restarted at 1000
    await clock.advance(1);
    state.fail = false;
    expect(await settle(call('x', Context.background))).toBe('ok'); // probe succeeds at t=2000
    expect(cb.state).toBe('closed');
    expect(state.calls).toBe(4);

    expect(changes.map((c) => [c.from, c.to, c.at - start])).toEqual([
      ['closed', 'open', 0],
      ['open', 'half-open', 1_000],
      ['half-open', 'open', 1_000],
      ['open', 'half-open', 2_000],
      ['half-open', 'closed', 2_000],
    ]);
    expect((changes[0]!.error as Error).message).toBe('dependency down');
  });

  it('counts isFailure=false as a success and ignores cancelled calls', async () => {
    const clock = new FakeClock();
    const notFound = Object.assign(new Error('404'), { status: 404 });
    let next: unknown = notFound;
    const handler = async () => {
      throw next;
    };
    const cb = circuitBreaker({
      mode: { kind: 'consecutive', threshold: 2 },
      isFailure: (e) => (e as { status?: number }).status !== 404,
      clock,
    });
    const call = cb(handler);
    for (let i = 0; i < 5; i++) await settle(call('x', Context.background));
    expect(cb.state).toBe('closed');
    next = new CancelledError();
    for (let i = 0; i < 5; i++) await settle(call('x', Context.background));
    expect(cb.state).toBe('closed');
    next = new ValidationError([{ path: [], message: 'bad' }]);
    const defaults = circuitBreaker({ mode: { kind: 'consecutive', threshold: 1 }, clock });
    await settle(defaults(handler)('x', Context.background));
    expect(defaults.state).toBe('closed'); // the default does not blame the dependency for bad input
  });

  it('is one shared state for every handler it wraps; isolate() and reset() override it', async () => {
    const clock = new FakeClock();
    const a = dependency();
    const b = dependency();
    const cb = circuitBreaker({ mode: { kind: 'consecutive', threshold: 2 }, clock });
    a.state.fail = true;
    await settle(cb(a.handler)('x', Context.background));
    await settle(cb(a.handler)('x', Context.background));
    expect(await settle(cb(b.handler)('x', Context.background))).toBe('rejected');
    expect(b.state.calls).toBe(0);

    cb.reset();
    expect(cb.state).toBe('closed');
    expect(await settle(cb(b.handler)('x', Context.background))).toBe('ok');
    cb.isolate();
    await clock.advance(60_000);
    expect(cb.state).toBe('isolated');
    expect(await settle(cb(b.handler)('x', Context.background))).toBe('rejected');
    cb.reset();
    expect(await settle(cb(b.handler)('x', Context.background))).toBe('ok');
  });

  it('ignores a stale probe outcome after reset', async () => {
    const clock = new FakeClock();
    const cb = circuitBreaker({ mode: { kind: 'consecutive', threshold: 1 }, halfOpenAfterMs: 10, clock });
    const { handler, calls } = manualHandler();
    const call = cb(handler);
    const first = track(call('x', Context.background));
    await flushMicrotasks();
    calls[0]!.reject(new Error('down'));
    await clock.advance(10);
    const probe = track(call('x', Context.background)); // half-open probe, left pending
    await flushMicrotasks();
    cb.reset();
    calls[1]!.reject(new Error('late failure'));
    await flushMicrotasks();
    expect(first.settled && probe.settled).toBe(true);
    expect(cb.state).toBe('closed');
  });
});

describe('circuitBreaker (sampling)', () => {
  const sampling = (clock: FakeClock) =>
    circuitBreaker({
      mode: { kind: 'sampling', windowMs: 1_000, minThroughput: 10, failureRatio: 0.5 },
      halfOpenAfterMs: 5_000,
      clock,
    });

  it('does not open below minThroughput even at 100% failures, opens once it is reached', async () => {
    const clock = new FakeClock();
    const { state, handler } = dependency();
    const cb = sampling(clock);
    state.fail = true;
    for (let i = 0; i < 9; i++) await settle(cb(handler)('x', Context.background));
    expect(cb.state).toBe('closed');
    await settle(cb(handler)('x', Context.background));
    expect(cb.state).toBe('open');
  });

  it('opens exactly when the failure ratio reaches the threshold', async () => {
    const clock = new FakeClock();
    const { state, handler } = dependency();
    const cb = sampling(clock);
    for (let i = 0; i < 10; i++) await settle(cb(handler)('x', Context.background)); // 10 ok
    state.fail = true;
    for (let i = 0; i < 9; i++) await settle(cb(handler)('x', Context.background)); // 9/19 < 0.5
    expect(cb.state).toBe('closed');
    expect(cb.stats).toMatchObject({ failures: 9, successes: 10 });
    await settle(cb(handler)('x', Context.background)); // 10/20 = 0.5
    expect(cb.state).toBe('open');
  });

  it('forgets outcomes older than the window', async () => {
    const clock = new FakeClock();
    const { state, handler } = dependency();
    const cb = sampling(clock);
    state.fail = true;
    for (let i = 0; i < 9; i++) await settle(cb(handler)('x', Context.background));
    await clock.advance(1_000);
    expect(cb.stats.failures).toBe(0);
    for (let i = 0; i < 9; i++) await settle(cb(handler)('x', Context.background));
    expect(cb.state).toBe('closed'); // 9 in the window, not 18
    await settle(cb(handler)('x', Context.background));
    expect(cb.state).toBe('open');
  });
});
