import { describe, expect, it } from 'vitest';
import { CancelSource, CancelToken } from '../../src/core/cancel.js';

/** White-box view of a token's private state, to check that nothing leaks. */
function internals(token: CancelToken): {
  listeners: unknown[] | undefined;
  controller: AbortController | undefined;
} {
  return token as unknown as { listeners: unknown[] | undefined; controller: AbortController | undefined };
}

describe('CancelToken listeners', () => {
  it('run once, in registration order, with the first reason', () => {
    const source = new CancelSource();
    const log: string[] = [];
    source.onCancel((r) => log.push(`a:${(r as Error).message}`));
    source.onCancel((r) => log.push(`b:${(r as Error).message}`));
    source.onCancel((r) => log.push(`c:${(r as Error).message}`));
    source.cancel(new Error('first'));
    source.cancel(new Error('second'));
    expect(log).toEqual(['a:first', 'b:first', 'c:first']);
    expect((source.reason as Error).message).toBe('first');
    expect(source.isCancelled).toBe(true);
  });

  it('a listener added after cancellation runs immediately', () => {
    const source = new CancelSource();
    const reason = new Error('gone');
    source.cancel(reason);
    const seen: unknown[] = [];
    const off = source.onCancel((r) => seen.push(r));
    expect(seen).toEqual([reason]);
    off(); // a no-op, must not throw
  });

  it('a removed listener does not run', () => {
    const source = new CancelSource();
    const log: string[] = [];
    const off = source.onCancel(() => log.push('removed'));
    source.onCancel(() => log.push('kept'));
    off();
    source.cancel(new Error('x'));
    expect(log).toEqual(['kept']);
  });

  it('calling a remover twice removes only its own registration', () => {
    const source = new CancelSource();
    let calls = 0;
    const listener = (): void => {
      calls++;
    };
    const off = source.onCancel(listener);
    source.onCancel(listener); // same function, second registration
    off();
    off();
    source.cancel(new Error('x'));
    expect(calls).toBe(1);
  });

  it('a throwing listener does not stop the others, and cancel reports the error afterwards', () => {
    const source = new CancelSource();
    const child = new CancelSource(source);
    const log: string[] = [];
    source.onCancel(() => log.push('before'));
    source.onCancel(() => {
      throw new Error('listener bug');
    });
    source.onCancel(() => log.push('after'));
    expect(() => source.cancel(new Error('stop'))).toThrow('listener bug');
    expect(log).toEqual(['before', 'after']);
    expect(child.isCancelled).toBe(true);
    expect(source.isCancelled).toBe(true);
  });

  it('cancel without a reason records an Error', () => {
    const source = new CancelSource();
    source.cancel(undefined);
    expect(source.reason).toBeInstanceOf(Error);
    expect(() => source.throwIfCancelled()).toThrow(Error);
  });

  it('throwIfCancelled throws the reason only once cancelled', () => {
    const source = new CancelSource();
    expect(() => source.throwIfCancelled()).not.toThrow();
    const reason = new Error('r');
    source.cancel(reason);
    expect(() => source.throwIfCancelled()).toThrow(reason);
  });
});

describe('CancelToken.never', () => {
  it('is never cancelled and keeps no listeners', () => {
    let ran = false;
    const off = CancelToken.never.onCancel(() => (ran = true));
    off();
    expect(CancelToken.never.isCancelled).toBe(false);
    expect(internals(CancelToken.never).listeners).toBeUndefined();
    expect(ran).toBe(false);
    const child = new CancelSource(CancelToken.never);
    child.cancel(new Error('child'));
    expect(CancelToken.never.isCancelled).toBe(false);
  });
});

describe('parent and child', () => {
  it('cancelling the parent cancels children and grandchildren with the same reason', () => {
    const parent = new CancelSource();
    const child = new CancelSource(parent);
    const grandchild = new CancelSource(child.token);
    const reason = new Error('shutdown');
    parent.cancel(reason);
    expect(child.reason).toBe(reason);
    expect(grandchild.reason).toBe(reason);
  });

  it('a child never cancels its parent', () => {
    const parent = new CancelSource();
    const child = new CancelSource(parent);
    child.cancel(new Error('only me'));
    expect(child.isCancelled).toBe(true);
    expect(parent.isCancelled).toBe(false);
  });

  it('a child of an already-cancelled parent is born cancelled', () => {
    const parent = new CancelSource();
    const reason = new Error('early');
    parent.cancel(reason);
    expect(new CancelSource(parent).reason).toBe(reason);
  });

  it('dispose unlinks: the parent keeps no listener and no longer cancels the child', () => {
    const parent = new CancelSource();
    const children = Array.from({ length: 1000 }, () => new CancelSource(parent));
    expect(internals(parent).listeners).toHaveLength(1000);
    for (const child of children) child.dispose();
    expect(internals(parent).listeners ?? []).toHaveLength(0);
    parent.cancel(new Error('late'));
    expect(children.some((c) => c.isCancelled)).toBe(false);
  });

  it('cancelling a child also unlinks it from the parent', () => {
    const parent = new CancelSource();
    const child = new CancelSource(parent);
    child.cancel(new Error('done'));
    expect(internals(parent).listeners ?? []).toHaveLength(0);
  });

  it('dispose twice is harmless and does not remove a sibling', () => {
    const parent = new CancelSource();
    const a = new CancelSource(parent);
    const b = new CancelSource(parent);
    a.dispose();
    a.dispose();
    parent.cancel(new Error('x'));
    expect(b.isCancelled).toBe(true);
  });
});

describe('signal', () => {
  it('is not created until asked for', () => {
    const source = new CancelSource();
    source.cancel(new Error('x'));
    expect(internals(source).controller).toBeUndefined();
  });

  it('materialised before cancellation: aborts with the reason when the token is cancelled', () => {
    const source = new CancelSource();
    const signal = source.signal;
    let events = 0;
    signal.addEventListener('abort', () => events++);
    expect(signal.aborted).toBe(false);
    const reason = new Error('abort me');
    source.cancel(reason);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(reason);
    expect(events).toBe(1);
    expect(source.signal).toBe(signal);
  });

  it('materialised after cancellation: already aborted with the reason', () => {
    const source = new CancelSource();
    const reason = new Error('before');
    source.cancel(reason);
    expect(source.signal.aborted).toBe(true);
    expect(source.signal.reason).toBe(reason);
  });

  it('a child signal aborts when the parent is cancelled', () => {
    const parent = new CancelSource();
    const child = new CancelSource(parent);
    const signal = child.signal;
    parent.cancel(new Error('p'));
    expect(signal.aborted).toBe(true);
  });
});
