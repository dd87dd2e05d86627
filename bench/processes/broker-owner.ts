/**
 * A process that only owns an embedded broker and serves it on a Unix socket, for benchmarks that want
 * the broker in a process of its own (to measure its memory, or to compare with a broker daemon). Speaks
 * the same JSON lines as `broker-child.ts`: `seek` (creates a group at the earliest message), `rss`,
 * `stats`, `exit` (closes cleanly).
 *
 *   broker-owner.ts <dir> <socketPath> <process|power>
 */
import { createInterface } from 'node:readline';
import { embeddedBroker } from '../../src/async/embedded/index.js';
import { serveBroker } from '../../src/async/remote/index.js';

const [dir, socketPath, durability] = process.argv.slice(2);
if (dir === undefined || socketPath === undefined || (durability !== 'process' && durability !== 'power')) {
  throw new Error('usage: broker-owner.ts <dir> <socketPath> <process|power>');
}
const broker = embeddedBroker({ dir, durability });
const server = await serveBroker(broker, { socketPath });

type OwnerCommand = { id: number; op: 'seek'; topic: string; group: string } | { id: number; op: 'rss' | 'stats' | 'exit' | 'cpu' };

async function execute(command: OwnerCommand): Promise<unknown> {
  switch (command.op) {
    case 'seek':
      await broker.seek(command.topic, command.group, { from: 'earliest' });
      return {};
    case 'rss':
      return { rss: process.memoryUsage.rss() };
    case 'cpu': {
      const { user, system } = process.cpuUsage();
      return { micros: user + system };
    }
    case 'stats':
      return broker.stats();
    case 'exit':
      await server.close();
      await broker.close();
      setImmediate(() => process.exit(0));
      return {};
  }
}

const reply = (line: object): void => void process.stdout.write(`${JSON.stringify(line)}\n`);
createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line) as OwnerCommand;
  execute(command).then(
    (result) => reply({ id: command.id, result }),
    (error: unknown) => reply({ id: command.id, error: String(error) }),
  );
});
reply({ ready: true });
