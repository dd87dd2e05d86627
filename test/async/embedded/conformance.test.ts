/**
 * The shared broker conformance suite against the embedded broker, twice:
 * - with the default configuration (queue retention: a message is deleted once every group acked it),
 *   which leaves out only the case that replays messages every group already acked;
 * - as a stream (`deleteAcked: false`), where every case runs, replay of acked messages included.
 * Each case gets a fresh directory, removed after the run.
 */
import { afterAll, describe, it } from 'vitest';
import { embeddedBroker, embeddedFeatures, type EmbeddedBrokerOptions } from '../../../src/async/embedded/index.js';
import { runBrokerConformance } from '../../../src/testing/index.js';
import { tempDir } from './helpers.js';

const dirs: Array<ReturnType<typeof tempDir>> = [];
afterAll(() => {
  for (const d of dirs) d.remove();
});

function create(options: Partial<EmbeddedBrokerOptions> = {}) {
  return () => {
    const dir = tempDir();
    dirs.push(dir);
    return embeddedBroker({ dir: dir.dir, ...options });
  };
}

const features = embeddedFeatures();

runBrokerConformance({
  describe,
  it,
  name: 'embedded (default: queue retention)',
  features,
  create: create(),
  exclude: {
    'a group can replay from the earliest message, a sequence or a time':
      'default retention deletes messages every group acked; covered by the stream run below',
  },
});

runBrokerConformance({
  describe,
  it,
  name: 'embedded (stream retention)',
  features,
  create: create({ retention: { deleteAcked: false } }),
});
