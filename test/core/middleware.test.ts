import { describe, expect, it } from 'vitest';
import { Context } from '../../src/core/context.js';
import { compose, wrap, type Handler, type Middleware } from '../../src/core/middleware.js';

/** A middleware that logs on the way in and out and tags the input and the result with its name. */
function tagging(name: string, log: string[]): Middleware<string, string> {
  return (next) => async (input, ctx) => {
    log.push(`${name}>`);
    const result = await next(`${input}+${name}`, ctx);
    log.push(`<${name}`);
    return `${result}|${name}`;
  };
}

describe('compose', () => {
  it('runs outermost first; the result passes back outward', async () => {
    const log: string[] = [];
    const handler: Handler<string, string> = async (input) => {
      log.push(`handler(${input})`);
      return 'h';
    };
    const composed = compose([tagging('a', log), tagging('b', log), tagging('c', log)])(handler);
    expect(await composed('in', Context.background)).toBe('h|c|b|a');
    expect(log).toEqual(['a>', 'b>', 'c>', 'handler(in+a+b+c)', '<c', '<b', '<a']);
  });

  it('with an empty list returns the handler itself', async () => {
    const handler: Handler<string, string> = async (input) => input.toUpperCase();
    expect(compose<string, string>([])(handler)).toBe(handler);
    expect(await wrap(handler, [])('x', Context.background)).toBe('X');
  });

  it('passes the context through, and lets a middleware replace it for those inside', async () => {
    const seen: Array<string | undefined> = [];
    const setOperation: Middleware<string, string> = (next) => (input, ctx) =>
      next(input, ctx.with({ operation: 'inner' }));
    const record: Middleware<string, string> = (next) => (input, ctx) => {
      seen.push(ctx.operation);
      return next(input, ctx);
    };
    const handler = wrap<string, string>(
      async (_input, ctx) => ctx.operation ?? 'none',
      [record, setOperation, record],
    );
    expect(await handler('x', new Context({ operation: 'outer' }))).toBe('inner');
    expect(seen).toEqual(['outer', 'inner']);
  });

  it('lets a middleware short-circuit: inner layers and the handler do not run', async () => {
    const log: string[] = [];
    const cache: Middleware<string, string> = () => async () => 'cached';
    const handler: Handler<string, string> = async () => {
      log.push('handler');
      return 'fresh';
    };
    expect(
      await wrap(handler, [tagging('outer', log), cache, tagging('inner', log)])('x', Context.background),
    ).toBe('cached|outer');
    expect(log).toEqual(['outer>', '<outer']);
  });

  it('propagates a rejection outward through every layer that does not catch it', async () => {
    const log: string[] = [];
    const failing: Handler<string, string> = async () => {
      throw new Error('boom');
    };
    const recover: Middleware<string, string> = (next) => async (input, ctx) => {
      try {
        return await next(input, ctx);
      } catch (error) {
        return `recovered(${(error as Error).message})`;
      }
    };
    await expect(wrap(failing, [tagging('a', log)])('x', Context.background)).rejects.toThrow('boom');
    expect(log).toEqual(['a>']);
    expect(await wrap(failing, [recover, tagging('b', [])])('x', Context.background)).toBe('recovered(boom)');
  });

  it('builds each layer once per composition, and runs it on every call', async () => {
    let built = 0;
    let calls = 0;
    const counting: Middleware<string, string> = (next) => {
      built++;
      return (input, ctx) => {
        calls++;
        return next(input, ctx);
      };
    };
    const handler = wrap<string, string>(async (s) => s, [counting, counting]);
    await handler('a', Context.background);
    await handler('b', Context.background);
    expect(built).toBe(2);
    expect(calls).toBe(4);
  });
});
