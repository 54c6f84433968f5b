import { wsTransport } from '../../transports/ws.js';
import { describeTransportContract } from './contract.js';
import { serverFixture } from './server-fixture.js';

describeTransportContract('ws', () =>
  serverFixture('ws', {
    transport: (proxyUrl) => wsTransport({ url: `${proxyUrl.replace(/^http/, 'ws')}/v1/ws` }),
    elsewhere: (server) => wsTransport({ url: server.wsUrl }),
  }),
);
