import { z } from 'zod';
import type { Context } from '../../core/context.js';
import { type Implementation, command, query, service } from '../../core/contract.js';
import {
  BulkheadRejectedError,
  CourierError,
  type CourierErrorOptions,
  RateLimitedError,
  TimeoutError,
} from '../../core/errors.js';
import { registerErrorType } from '../../sync/error-registry.js';
import { UnavailableError } from '../../sync/errors.js';

/**
 * The service every transport serves in the conformance suite, and the implementation (with a `Probe` that
 * records what the server side saw) the cases call. Unary only: the streaming cases use `streamingContract`.
 */

/** An application error with its own code, registered below as every application would register it. */
export class OutOfStockError extends CourierError {
  constructor(
    readonly sku: string,
    readonly available: number,
    options: CourierErrorOptions = {},
  ) {
    super('CONFORMANCE_OUT_OF_STOCK', `only ${available} of ${sku} left`, {
      retryable: false,
      ...options,
      details: { ...options.details, sku, available },
    });
  }
}

registerErrorType<OutOfStockError>({
  code: 'CONFORMANCE_OUT_OF_STOCK',
  status: 409,
  create: (wire, options) =>
    new OutOfStockError(
      typeof wire.details?.['sku'] === 'string' ? wire.details['sku'] : '',
      typeof wire.details?.['available'] === 'number' ? wire.details['available'] : 0,
      options,
    ),
});

/** What the callee saw of its context; nulls where the field was absent (JSON has no undefined). */
const ContextView = z.object({
  remainingMs: z.number().nullable(),
  correlationId: z.string().nullable(),
  causationId: z.string().nullable(),
  traceparent: z.string().nullable(),
  tracestate: z.string().nullable(),
  attempt: z.number(),
  idempotencyKey: z.string().nullable(),
  operation: z.string().nullable(),
  metadata: z.record(z.string(), z.string()),
});
export type ContextView = z.infer<typeof ContextView>;

const EchoInput = z.object({
  text: z.string(),
  n: z.number().optional(),
  flag: z.boolean().optional(),
  tags: z.array(z.string()),
});
export type EchoInput = z.infer<typeof EchoInput>;

export const FAILURES = ['out-of-stock', 'rate-limited', 'timeout', 'bulkhead', 'unregistered', 'bug', 'bad-output'] as const;
export type Failure = (typeof FAILURES)[number];

export const conformanceContract = service('conformance', {
  queries: {
    /** Scalar input: served as GET with a query string over HTTP. Returns the callee's context. */
    inspect: query({ input: z.object({ label: z.string(), n: z.number().int().optional() }), output: ContextView }),
    /** Scalar and array-of-scalar input (a query string over HTTP), returned as received. */
    echo: query({ input: EchoInput, output: EchoInput }),
  },
  commands: {
    /** Throws the error `kind` names (`bad-output`: returns an output JSON cannot encode). */
    fail: command({ input: z.object({ kind: z.enum(FAILURES) }), output: z.object({}) }),
    /** A nested input, for validation paths. */
    place: command({
      input: z.object({
        order: z.object({
          id: z.string().min(1),
          items: z.array(z.object({ sku: z.string().min(1), qty: z.number().int().positive() })).min(1),
        }),
      }),
      output: z.object({ lines: z.number() }),
    }),
    /**
     * Waits until its `ctx.cancel` fires (recorded in the probe under `id`), or `holdMs` passes; returns
     * whether it was cancelled.
     */
    hold: command({
      input: z.object({ id: z.string(), holdMs: z.number().optional() }),
      output: z.object({ cancelled: z.boolean() }),
    }),
    /**
     * The side effect idempotency protects: adds `amount` to the total of `id`. Waits on the probe's gate
     * for `id` when one is set; `fail` makes it throw after the effect's check (retryable: not stored).
     */
    effect: command({
      input: z.object({
        id: z.string(),
        amount: z.number(),
        fail: z.enum(['retryable', 'final']).optional(),
      }),
      output: z.object({ id: z.string(), total: z.number(), serial: z.number(), ctx: ContextView }),
      idempotent: true,
    }),
    /** A payload of any size. */
    upload: command({ input: z.object({ data: z.string() }), output: z.object({ chars: z.number() }) }),
  },
});
export type ConformanceContract = typeof conformanceContract;

/** One item of the streaming case. */
export interface Tick {
  readonly i: number;
  readonly pad: string;
}

/** The streaming service: `ticks` produces `count` items of `size` characters (a server stream). */
export const streamingContract = service('conformanceStream', {
  queries: {
    ticks: query({
      input: z.object({ count: z.number().int(), size: z.number().int() }),
      output: z.object({ i: z.number(), pad: z.string() }),
      stream: 'server',
    }),
  },
});
export type StreamingContract = typeof streamingContract;

/** A promise the test resolves to let gated handlers finish. */
export class Gate {
  readonly opened: Promise<void>;
  open!: () => void;
  constructor() {
    this.opened = new Promise<void>((resolve) => (this.open = resolve));
  }
}

export interface HoldRecord {
  started: boolean;
  /** The reason `ctx.cancel` fired with; undefined while it has not. */
  cancelReason: unknown;
  finished: boolean;
}

/** What the server side of a case saw. */
export class Probe {
  /** Calls that reached the implementation, by operation name. */
  readonly started = new Map<string, number>();
  /** Total per `effect` id: the effect that must happen once. */
  readonly totals = new Map<string, number>();
  /** Every effect applied, in order. */
  effects = 0;
  readonly holds = new Map<string, HoldRecord>();
  readonly gates = new Map<string, Gate>();
  /** Items the stream producer has handed to the transport. */
  produced = 0;
  /** The stream producer's `ctx.cancel` fired. */
  streamCancelled = false;
  /** The stream producer's generator has finished (returned, thrown or been closed). */
  streamFinished = false;

  count(operation: string): number {
    return this.started.get(operation) ?? 0;
  }

  hold(id: string): HoldRecord {
    let record = this.holds.get(id);
    if (record === undefined) {
      record = { started: false, cancelReason: undefined, finished: false };
      this.holds.set(id, record);
    }
    return record;
  }

  gate(id: string): Gate {
    const gate = new Gate();
    this.gates.set(id, gate);
    return gate;
  }

  mark(operation: string): void {
    this.started.set(operation, this.count(operation) + 1);
  }
}

export function viewOf(ctx: Context): ContextView {
  return {
    remainingMs: ctx.deadline === undefined ? null : ctx.deadline - Date.now(),
    correlationId: ctx.correlationId ?? null,
    causationId: ctx.causationId ?? null,
    traceparent: ctx.traceparent ?? null,
    tracestate: ctx.tracestate ?? null,
    attempt: ctx.attempt,
    idempotencyKey: ctx.idempotencyKey ?? null,
    operation: ctx.operation ?? null,
    metadata: { ...ctx.metadata },
  };
}

export function conformanceImplementation(probe: Probe): Implementation<ConformanceContract> {
  return {
    inspect: async (_input, ctx) => {
      probe.mark('inspect');
      return viewOf(ctx);
    },
    fail: async ({ kind }) => {
      probe.mark('fail');
      switch (kind) {
        case 'out-of-stock':
          throw new OutOfStockError('A-1', 2);
        case 'rate-limited':
          throw new RateLimitedError(1500, { details: { bucket: 'orders' } });
        case 'timeout':
          throw new TimeoutError(250);
        case 'bulkhead':
          throw new BulkheadRejectedError(4, 8);
        case 'unregistered':
          throw new CourierError('CONFORMANCE_UNREGISTERED', 'a code nobody registered', { details: { n: 1 } });
        case 'bug':
          throw new Error('secret: connection string postgres://admin:hunter2@db');
        case 'bad-output': {
          // An output no wire can carry (a cycle): the handler's bug.
          const cycle: Record<string, unknown> = {};
          cycle['self'] = cycle;
          return cycle as Record<string, never>;
        }
      }
    },
    echo: async (input) => {
      probe.mark('echo');
      return input;
    },
    place: async ({ order }) => {
      probe.mark('place');
      return { lines: order.items.length };
    },
    hold: async ({ id, holdMs }, ctx) => {
      probe.mark('hold');
      const record = probe.hold(id);
      record.started = true;
      const cancelled = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          stop();
          resolve(false);
        }, holdMs ?? 20_000);
        timer.unref();
        const stop = ctx.cancel.onCancel((reason) => {
          record.cancelReason = reason;
          clearTimeout(timer);
          resolve(true);
        });
      });
      record.finished = true;
      return { cancelled };
    },
    effect: async ({ id, amount, fail }, ctx) => {
      probe.mark('effect');
      const gate = probe.gates.get(id);
      if (gate !== undefined) await gate.opened;
      if (fail === 'retryable') throw new UnavailableError('try again');
      if (fail === 'final') throw new OutOfStockError(id, 0);
      const total = (probe.totals.get(id) ?? 0) + amount;
      probe.totals.set(id, total);
      return { id, total, serial: ++probe.effects, ctx: viewOf(ctx) };
    },
    upload: async ({ data }) => {
      probe.mark('upload');
      return { chars: data.length };
    },
  };
}

/**
 * The streaming implementation. A stream handler is an async generator `(input, ctx) => AsyncIterable<O>`;
 * its items are pulled by the transport, so `probe.produced` counts what the transport asked for.
 */
export function streamingImplementation(probe: Probe): Implementation<StreamingContract> {
  async function* ticks(input: { count: number; size: number }, ctx: Context): AsyncGenerator<Tick> {
    const stop = ctx.cancel.onCancel(() => (probe.streamCancelled = true));
    try {
      const pad = 'x'.repeat(input.size);
      for (let i = 0; i < input.count; i++) {
        if (ctx.cancel.isCancelled) return;
        probe.produced++;
        yield { i, pad };
      }
    } finally {
      stop();
      probe.streamFinished = true;
    }
  }
  // A stream handler's type depends on how `Implementation` types streams: the value is what it must be.
  const implementation: Record<string, unknown> = { ticks };
  return implementation as Implementation<StreamingContract>;
}
