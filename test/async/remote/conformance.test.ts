/**
 * The shared broker conformance suite over `remoteBroker`: every case talks to the served broker through
 * the local socket, so the remote adapter must give exactly the served broker's guarantees. Served brokers:
 * the memory broker, and the embedded broker (stream retention, so that the replay case runs too), over
 * protocol 2 and over protocol 1.
 */
import { afterAll, describe, it } from 'vitest';
import { embeddedBroker, embeddedFeatures } from '../../../src/async/embedded/index.js';
import { memoryBroker } from '../../../src/async/memory/index.js';
import { runBrokerConformance } from '../../../src/testing/index.js';
import { asBroker, serve, tempDir } from './helpers.js';

const dirs: Array<ReturnType<typeof tempDir>> = [];
afterAll(() => {
  for (const d of dirs) d.remove();
});

function scratch(): string {
  const d = tempDir();
  dirs.push(d);
  return d.dir;
}

runBrokerConformance({
  describe,
  it,
  name: 'remote → memory',
  features: memoryBroker().features,
  create: async () => asBroker(await serve(memoryBroker(), scratch())),
});

// Protocol 1 is what a client or server from before ACKS and DELIVER_ENTRY speaks: the same guarantees on
// the old frames.
for (const protocol of [2, 1]) {
  runBrokerConformance({
    describe,
    it,
    name: `remote (protocol ${protocol}) → embedded (stream retention)`,
    features: embeddedFeatures(),
    create: async () => {
      const dir = scratch();
      return asBroker(await serve(embeddedBroker({ dir, retention: { deleteAcked: false } }), dir, { protocol }));
    },
  });
}
