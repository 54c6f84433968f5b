import { memoryStore } from '../../src/index.js';
import { describeTransportContract } from './contract.js';
import { hubFixture } from './hub-fixture.js';

describeTransportContract('memory', () =>
  hubFixture({
    store: async () => memoryStore(),
    settle: async () => {
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    },
  }),
);
