import { httpTransport } from '../../transports/http.js';
import { describeTransportContract } from './contract.js';
import { serverFixture } from './server-fixture.js';

describeTransportContract('http', () =>
  serverFixture('http', {
    transport: (proxyUrl) => httpTransport({ url: proxyUrl }),
    elsewhere: (server) => httpTransport({ url: server.url }),
    // Every HTTP request is authenticated by its token, so tokens must outlive the retention the suite
    // fast-forwards through (the memory transport checks a token once, at login).
    tokenTtlMs: 30 * 24 * 3600_000,
  }),
);
