/**
 * The smallest Courier program: one synchronous call and one asynchronous event, on the embedded broker.
 *
 *   npm start
 *
 * A `Greeter` service answers a query (sync: the caller waits, with a timeout and retries) and announces each
 * greeting as an event (async: published durably, consumed by a group through the consumer pipeline).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { command, event, service } from '../../src/core/contract.js';
import { courier } from '../../src/node/index.js';
import { retry, timeout } from '../../src/policies/index.js';

const Greeter = service('greeter', {
  commands: {
    greet: command({
      input: z.object({ name: z.string().min(1).max(100) }),
      output: z.object({ message: z.string(), greetedAt: z.iso.datetime() }),
    }),
  },
  events: {
    Greeted: event(z.object({ name: z.string(), message: z.string() })),
  },
});

const dataDir = mkdtempSync(join(tmpdir(), 'courier-hello-'));
const node = courier({ name: 'hello', dataDir });

// Provider: implement the contract. Input and output are validated against it.
node.implement(Greeter, {
  greet: async ({ name }, ctx) => {
    const message = `Hello, ${name}!`;
    await node.publish(Greeter.events.Greeted, { name, message }, { ctx, key: name });
    return { message, greetedAt: new Date().toISOString() };
  },
});

// Consumer: a group that receives every Greeted event (retries and a dead-letter queue come with it).
let resolveAudited: (payload: { name: string; message: string }) => void;
const audited = new Promise<{ name: string; message: string }>((resolve) => (resolveAudited = resolve));
await node.on(Greeter.events.Greeted, { group: 'audit' }, async (payload, ctx) => {
  console.log(
    `[async] audit received Greeted (attempt ${ctx.attempt}, correlation ${ctx.correlationId}):`,
    payload,
  );
  resolveAudited(payload);
});

// Caller: a typed client with policies, outermost first.
const greeter = node.client(Greeter, { policy: [timeout(1_000), retry({ attempts: 3, baseMs: 50 })] });
const reply = await greeter.greet({ name: 'Ada' }, { timeoutMs: 500 });
console.log('[sync] greet replied:', reply);

// A bad request is refused with a typed error that names the problem.
await greeter
  .greet({ name: '' })
  .catch((error: Error) => console.log(`[sync] bad input refused: ${error.name}: ${error.message}`));

const greeted = await Promise.race([
  audited,
  new Promise((_, reject) => setTimeout(() => reject(new Error('no event within 10 s')), 10_000).unref()),
]);
console.log('[done] one sync call and one async event:', (greeted as { message: string }).message);
await node.close();
rmSync(dataDir, { recursive: true, force: true });
