import { httpTransport } from '../../transports/http.js';
import { describeTransportContract } from './contract.js';
import { serverFixture } from './server-fixture.js';

// Every HTTP request is authenticated by its token, so tokens must outlive the retention the suite
// fast-forwards through (the memory transport checks a token once, at login).
const tokenTtlMs = 30 * 24 * 3600_000;

describeTransportContract('http', () =>
  serverFixture('http', {
    transport: (proxyUrl) => httpTransport({ url: proxyUrl }),
    elsewhere: (server) => httpTransport({ url: server.url }),
    tokenTtlMs,
  }),
);

// The same contract with every download read by `directGet` (by default only those of 1 MiB or more).
describeTransportContract('http, every download read directly', () =>
  serverFixture('http-direct', {
    transport: (proxyUrl) => httpTransport({ url: proxyUrl, directReadsFrom: 0 }),
    elsewhere: (server) => httpTransport({ url: server.url, directReadsFrom: 0 }),
    tokenTtlMs,
  }),
);
