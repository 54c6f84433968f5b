import { wsTransport } from '../../transports/ws.js';
import { describeTransportContract } from './contract.js';
import { serverFixture } from './server-fixture.js';

// A session ends when its token expires unrenewed (decision 62), so tokens must outlive the retention
// the suite fast-forwards through.
const tokenTtlMs = 30 * 24 * 3600_000;

describeTransportContract('ws', () =>
  serverFixture('ws', {
    transport: (proxyUrl) => wsTransport({ url: `${proxyUrl.replace(/^http/, 'ws')}/v1/ws` }),
    elsewhere: (server) => wsTransport({ url: server.wsUrl }),
    tokenTtlMs,
  }),
);
