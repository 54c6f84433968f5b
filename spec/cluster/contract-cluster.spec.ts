/**
 * The transport contract suite on a three-node cluster sharing Redis and Ceph RGW, over HTTP and over
 * WebSocket, clients spread over the nodes (`cluster-fixture.ts`).
 */
import { httpTransport } from '../../transports/http.js';
import { wsTransport } from '../../transports/ws.js';
import { describeTransportContract } from '../contract/contract.js';
import { clusterFixture } from './cluster-fixture.js';
import { describeWithServices } from './services.js';

const tokenTtlMs = 30 * 24 * 3600_000;

describeWithServices('the transport contract on a three-node cluster', ['redis', 's3'], ({ redisUrl, s3 }) => {
  describeTransportContract('http, three nodes', () =>
    clusterFixture(redisUrl, s3, {
      transport: (urls) => httpTransport({ url: urls }),
      elsewhere: (server) => httpTransport({ url: server.url }),
      tokenTtlMs,
    }),
  );
  describeTransportContract('ws, three nodes', () =>
    clusterFixture(redisUrl, s3, {
      transport: (urls) => wsTransport({ url: urls.map((url) => `${url.replace(/^http/, 'ws')}/v1/ws`) }),
      elsewhere: (server) => wsTransport({ url: server.wsUrl }),
      tokenTtlMs,
    }),
  );
});
