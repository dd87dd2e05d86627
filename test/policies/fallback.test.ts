import { describe, expect, it } from 'vitest';
import { Context } from '../../src/core/context.js';
import { BrokenCircuitError } from '../../src/core/errors.js';
import { fallback } from '../../src/policies/index.js';

const failing = async (): Promise<string[]> => {
  throw new BrokenCircuitError();
};

describe('fallback', () => {
  it('returns the fallback value on failure and the real result on success', async () => {
    await expect(fallback<string[]>([])(failing)('x', Context.background)).resolves.toEqual([]);
    await expect(fallback<string[]>([])(async () => ['real'])('x', Context.background)).resolves.toEqual(['real']);
  });

  it('calls a fallback function with the error, input and context', async () => {
    const seen: unknown[] = [];
    const policy = fallback<string[], string>(async (error, input, ctx) => {
      seen.push(error instanceof BrokenCircuitError, input, ctx.operation);
      return ['cached'];
    });
    const ctx = Context.background.with({ operation: 'catalog.list' });
    await expect(policy(failing)('shoes', ctx)).resolves.toEqual(['cached']);
    expect(seen).toEqual([true, 'shoes', 'catalog.list']);
  });

  it('rethrows errors that `when` does not accept, and fallback-function errors', async () => {
    const policy = fallback<string[]>(['x'], { when: (e) => !(e instanceof BrokenCircuitError) });
    await expect(policy(failing)('x', Context.background)).rejects.toBeInstanceOf(BrokenCircuitError);
    const broken = fallback<string[]>(() => {
      throw new Error('no cache either');
    });
    await expect(broken(failing)('x', Context.background)).rejects.toThrow('no cache either');
  });
});
