/**
 * A client process killed while it holds deliveries: the server notices the dead connection and releases
 * them to the group, long before their lease (10 minutes here) would have.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Delivery } from '../../../src/async/broker.js';
import { embeddedBroker } from '../../../src/async/embedded/index.js';
import { serveBroker } from '../../../src/async/remote/index.js';
import { msg, tempDir, until } from './helpers.js';
import { join } from 'node:path';

const child = fileURLToPath(new URL('./fixtures/remote-consumer.ts', import.meta.url));

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.remove());

describe('remote broker: a consumer process killed mid-message', () => {
  it('gets its unsettled deliveries redelivered to the group with attempt + 1', async () => {
    const inner = embeddedBroker({ dir: tmp.dir });
    const socketPath = join(tmp.dir, 'broker.sock');
    const server = await serveBroker(inner, { socketPath });
    const proc = spawn(process.execPath, ['--import', 'tsx', child, socketPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.on('exit', (_code, signal) => resolve(signal)));
    const got: string[] = [];
    let subscribed = false;
    createInterface({ input: proc.stdout }).on('line', (line) => {
      if (line === 'SUBSCRIBED') subscribed = true;
      else if (line.startsWith('GOT ')) got.push(line.slice(4));
    });
    try {
      await until(() => subscribed, `the child to subscribe (stderr: ${stderr})`, 20_000);
      await Promise.all([1, 2, 3].map((n) => inner.publish('k', msg(n))));
      await until(() => got.length === 3, 'the child to receive 3 messages');
      expect(got.sort()).toEqual(['m-1 1', 'm-2 1', 'm-3 1']);
      proc.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');

      const again: Delivery[] = [];
      const sub = await inner.subscribe('k', { group: 'g' }, async (d) => {
        again.push(d);
        await d.ack();
      });
      await until(() => again.length === 3, 'the redeliveries');
      await sub.close();
      expect(again.map((d) => `${d.message.id} ${d.message.attempt}`).sort()).toEqual(['m-1 2', 'm-2 2', 'm-3 2']);
      await until(() => server.connections === 0, 'the server to drop the dead session');
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await server.close();
      await inner.close();
    }
  });
});
