import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Broker, PublishReceipt } from '../async/broker.js';
import { type ConsumeOptions, type Consumer, consumeEvent } from '../async/pipeline/consume.js';
import { type PublishEventOptions, publishEvent } from '../async/pipeline/publish.js';
import type { Context } from '../core/context.js';
import type { Client, EventDef, EventPayload, Implementation, ServiceContract } from '../core/contract.js';
import type { Middleware } from '../core/middleware.js';
import { type InprocClientOptions, Registry, inprocClient } from './inproc-client.js';

/**
 * A Courier node: one service's view of the system. It implements contracts, calls other services through
 * typed clients, publishes events and consumes them through the pipeline, all on one broker: the embedded
 * (SQLite) broker by default, any `Broker` adapter when given.
 *
 * ```ts
 * const node = courier({ name: 'inventory' });
 * node.implement(Inventory, { stock: async (q, ctx) => …, reserve: async (c, ctx) => … });
 * const inventory = node.client(Inventory, { policy: [timeout(300), retry({ attempts: 3 })] });
 * await node.publish(Inventory.events.ItemReserved, { sku, qty });
 * await node.on(Inventory.events.ItemReserved, { group: 'email' }, async (event, ctx) => …);
 * ```
 */
export interface CourierOptions {
  /** The service name (CloudEvents `source` is `/courier/<name>`). */
  readonly name: string;
  /** The broker. Default: the embedded broker in `dataDir`. */
  readonly broker?: Broker;
  /** Directory of the default embedded broker. Default: `<os tmpdir>/courier/<name>`. */
  readonly dataDir?: string;
}

export class CourierNode {
  readonly name: string;
  private readonly registry = new Registry();
  private brokerReady: Promise<Broker> | undefined;
  private readonly consumers = new Set<Consumer>();
  private readonly ownsBroker: boolean;

  constructor(private readonly options: CourierOptions) {
    if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(options.name))
      throw new TypeError(`node name "${options.name}" is not a valid name`);
    this.name = options.name;
    this.brokerReady = options.broker === undefined ? undefined : Promise.resolve(options.broker);
    this.ownsBroker = options.broker === undefined;
  }

  /**
   * The node's broker. The embedded one is loaded and opened on first use: the core package does not import
   * an adapter (or its native SQLite binding) until a node actually needs it.
   */
  broker(): Promise<Broker> {
    this.brokerReady ??= import('../async/embedded/index.js').then(({ embeddedBroker }) =>
      embeddedBroker({ dir: this.options.dataDir ?? join(tmpdir(), 'courier', this.name) }),
    );
    return this.brokerReady;
  }

  /** Serve a contract's queries and commands with `handlers`, wrapped in the provider's `middleware`. */
  implement<C extends ServiceContract>(
    contract: C,
    handlers: Implementation<C>,
    options: { middleware?: readonly Middleware[] } = {},
  ): this {
    this.registry.add(
      contract,
      handlers as Record<string, (input: any, ctx: Context) => Promise<unknown>>,
      options.middleware,
    );
    return this;
  }

  /** A typed client for a contract implemented on this node (in process), with client-side policies. */
  client<C extends ServiceContract>(contract: C, options: InprocClientOptions = {}): Client<C> {
    return inprocClient(contract, this.registry, options);
  }

  /** Publish a contract event (validated, enveloped, durable on resolve). */
  async publish<E extends EventDef>(
    event: E,
    payload: EventPayload<E>,
    options: PublishEventOptions = {},
  ): Promise<PublishReceipt> {
    return publishEvent(await this.broker(), event, payload, { source: `/courier/${this.name}`, ...options });
  }

  /** Consume a contract event as a member of `options.group`, through the consumer pipeline. */
  async on<E extends EventDef>(
    event: E,
    options: Omit<ConsumeOptions<EventPayload<E>>, 'schema' | 'handler'>,
    handler: ConsumeOptions<EventPayload<E>>['handler'],
  ): Promise<Consumer> {
    const consumer = await consumeEvent(await this.broker(), event, { ...options, handler });
    this.consumers.add(consumer);
    return consumer;
  }

  /** Stop consumers (in-flight handlers finish), then close the broker if the node opened it. */
  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.close()));
    this.consumers.clear();
    if (this.ownsBroker && this.brokerReady !== undefined) await (await this.brokerReady).close();
  }
}

export function courier(options: CourierOptions): CourierNode {
  return new CourierNode(options);
}
