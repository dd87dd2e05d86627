import { describe, expect, it } from 'vitest';
import { CancelSource } from '../../src/core/cancel.js';
import type { Context } from '../../src/core/context.js';
import type { OperationDef } from '../../src/core/contract.js';
import { CancelledError } from '../../src/core/errors.js';
import { inproc } from '../../src/sync/inproc/index.js';
import { runTransportConformance } from '../../src/testing/index.js';
import {
  CaseEnvironment,
  type TransportConformanceOptions,
  type TransportSetup,
  transportCases,
} from '../../src/testing/transport-conformance/index.js';

/**
 * The suite's own streaming cases, checked before a streaming transport exists: against a reference harness
 * whose streams are pulled item by item (it must pass), and one that buffers the whole stream before
 * handing out the first item (the backpressure case must fail against it).
 */
type StreamHandler = (input: unknown, ctx: Context) => AsyncIterable<unknown>;

function harness(eager: boolean): TransportSetup {
  return async (contract, implementation, serverOptions) => {
    const transport = inproc({ ...serverOptions });
    transport.serve(contract, implementation);
    const handlers = implementation as unknown as Record<string, StreamHandler>;
    const stream = (operation: OperationDef, input: unknown, ctx: Context): AsyncIterable<unknown> => ({
      [Symbol.asyncIterator]() {
        const source = new CancelSource(ctx.cancel);
        const items = handlers[operation.name]!(input, ctx.with({ cancel: source }))[Symbol.asyncIterator]();
        const close = async (): Promise<IteratorResult<unknown>> => {
          source.cancel(new CancelledError('the consumer closed the stream'));
          await items.return?.();
          return { done: true, value: undefined };
        };
        if (!eager) return { next: () => items.next(), return: close };
        // Reads everything the producer makes before the consumer asks: no backpressure at all.
        const buffered: unknown[] = [];
        let drained: Promise<void> | undefined;
        return {
          next: async () => {
            drained ??= (async () => {
              for (let step = await items.next(); step.done !== true; step = await items.next()) buffered.push(step.value);
            })();
            await drained;
            return buffered.length > 0 ? { done: false, value: buffered.shift() } : { done: true, value: undefined };
          },
          return: close,
        };
      },
    });
    return { client: transport, stream, close: () => transport.close() };
  };
}

runTransportConformance({
  describe,
  it,
  name: 'reference (inproc + pulled streams)',
  features: { streaming: true, maxInputBytes: 64 * 1024 },
  setup: harness(false),
});

describe('the backpressure case', () => {
  it('fails against a harness that buffers the whole stream', async () => {
    const backpressure = transportCases.find((c) => c.name.startsWith('a server stream applies backpressure'))!;
    const options: TransportConformanceOptions = {
      describe,
      it,
      name: 'eager',
      features: { streaming: true, maxInputBytes: undefined },
      setup: harness(true),
    };
    const env = new CaseEnvironment(options);
    try {
      await expect(backpressure.run(env)).rejects.toThrow(/ran ahead of a consumer/);
    } finally {
      await env.closeAll();
    }
  });
});
