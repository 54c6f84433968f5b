/**
 * Offline messages on a three-node cluster of `ferry serve` processes sharing Redis and Ceph RGW (issue 15):
 * a message kept for a user who logged out lives in Redis, not in the node the user left, so it survives
 * that node's `kill -9` and is delivered when the user logs in through another node; the same message ID
 * sent again afterwards is answered as the first send was and delivers nothing. Over both wires.
 * Decision 102.
 */
import { afterEach, expect, it } from 'vitest';
import { type Client, createClient, type PeerMessageEvent, textMessage } from '../../src/index.js';
import { httpTransport } from '../../transports/http.js';
import { wsTransport } from '../../transports/ws.js';
import { type ClusterNode, type ProcessCluster, startProcessCluster } from './processes.js';
import { describeWithServices } from './services.js';

/** Lease of each node in Redis: short, so the killed node's lease runs out while the case runs. */
const NODE_LEASE_MS = 3_000;

/** Waits (at most `ms`) until `done()` holds, checking every 25 ms. */
const until = async (done: () => boolean, ms: number): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
};

describeWithServices('offline messages on a cluster of ferry serve processes under faults', ['redis', 's3'], ({ redisUrl, s3 }) => {
  let cluster: ProcessCluster | undefined;
  const clients: Client[] = [];
  afterEach(async () => {
    await Promise.allSettled(clients.splice(0).map((client) => client.logout()));
    await cluster?.close();
    cluster = undefined;
  });

  for (const kind of ['http', 'ws'] as const) {
    it(`keeps a message for a user who left node B, delivers it through node C after B was killed, and a resend of its ID delivers nothing (${kind})`, async () => {
      cluster = await startProcessCluster({ redisUrl, s3, flags: ['--node-lease', `${NODE_LEASE_MS / 1_000}s`] });
      const { nodes, issueToken } = cluster;
      const [a, b, c] = nodes as [ClusterNode, ClusterNode, ClusterNode];
      const client = (node: ClusterNode): Client => {
        const made = createClient({ transport: kind === 'http' ? httpTransport({ url: node.url }) : wsTransport({ url: node.wsUrl }) });
        clients.push(made);
        return made;
      };

      const bobOnB = client(b);
      await bobOnB.login({ userId: 'bob', token: issueToken('bob') });
      await bobOnB.logout();
      const alice = client(a);
      await alice.login({ userId: 'alice', token: issueToken('alice') });
      const sent = await alice.sendMessageToPeer('bob', textMessage('kept for bob'), { enableOfflineMessaging: true, messageId: 'photo-1' });
      expect(sent).toEqual({ state: 'CACHED_BY_SERVER', messageId: 'photo-1' });

      await b.kill();
      const bobOnC = client(c);
      const received: PeerMessageEvent[] = [];
      bobOnC.peerMessages$.subscribe((event) => received.push(event));
      await bobOnC.login({ userId: 'bob', token: issueToken('bob') });
      await until(() => received.length >= 1, 10_000);
      expect(received).toEqual([
        expect.objectContaining({ peerId: 'alice', message: textMessage('kept for bob'), messageId: 'photo-1', isOfflineMessage: true }),
      ]);

      // Alice's app retries the send (it never saw the answer, say): answered as the first, delivered never again.
      const again = await alice.sendMessageToPeer('bob', textMessage('kept for bob'), { enableOfflineMessaging: true, messageId: 'photo-1' });
      expect(again).toEqual({ state: 'CACHED_BY_SERVER', messageId: 'photo-1' });
      const next = await alice.sendMessageToPeer('bob', textMessage('live'), { enableOfflineMessaging: true, messageId: 'live-1' });
      expect(next).toEqual({ state: 'RECEIVED', messageId: 'live-1' });
      await until(() => received.length >= 2, 10_000);
      expect(received.map((event) => [event.messageId, event.isOfflineMessage])).toEqual([
        ['photo-1', true],
        ['live-1', false],
      ]);
    }, 90_000);
  }
});
