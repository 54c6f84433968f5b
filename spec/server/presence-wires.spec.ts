/**
 * Presence over the real wires, the server on a virtual clock (issue 15): a peer whose link is cut is
 * UNREACHABLE to those watching it while its session waits out its grace, ONLINE when it reconnects,
 * OFFLINE when the grace ends it; a logout is OFFLINE at once, with no UNREACHABLE before it; and a
 * watcher's subscriptions survive a fresh login of its transport, as its channels do. Over HTTP and
 * WebSocket. The transports reconnect on real time through a proxy the spec takes down and cuts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Client, createClient, virtualClock, type VirtualClock } from '../../src/index.js';
import type { FerryServer } from '../../src/server/server.js';
import { httpTransport } from '../../transports/http.js';
import type { Transport } from '../../transports/transport.js';
import { wsTransport } from '../../transports/ws.js';
import { nodeProxy, type NodeProxy, until, wsOf } from './failover-support.js';
import { delay, start } from './http-support.js';
import { nodeFetch } from '../../src/platform/node-fetch.js';

/** The server's default grace of a session without a connection, over both wires. */
const GRACE_MS = 60_000;
const reconnectDelays = [0, 50];

/**
 * Node's `fetch`, its `DELETE`s (logouts) sent 100 ms late: a transport that cut its event stream before
 * its logout was taken would show the user UNREACHABLE first.
 */
const lateLogouts: typeof globalThis.fetch = async (input, init = {}) => {
  if (init.method === 'DELETE') await delay(100);
  return nodeFetch(String(input), init);
};

const transports: readonly (readonly [string, (base: string) => Transport])[] = [
  ['HTTP', (base) => httpTransport({ url: base, reconnectDelays, fetch: lateLogouts })],
  ['WebSocket', (base) => wsTransport({ url: wsOf(base), reconnectDelays })],
];

describe.each(transports)('presence over %s', (_name, transportTo) => {
  const clients: Client[] = [];
  const proxies: NodeProxy[] = [];
  afterEach(async () => {
    for (const proxy of proxies) proxy.setDown(false);
    await Promise.allSettled(clients.splice(0).map((client) => client.logout()));
    await Promise.allSettled(proxies.splice(0).map((proxy) => proxy.close()));
  });

  const world = async () => {
    const clock: VirtualClock = virtualClock(Date.UTC(2026, 11, 1));
    const server: FerryServer = await start({ clock });
    const proxy = await nodeProxy(server.url);
    proxies.push(proxy);
    const login = async (userId: string, through: 'proxy' | 'direct'): Promise<Client> => {
      const client = createClient({ transport: transportTo(through === 'proxy' ? proxy.url : server.url) });
      clients.push(client);
      await client.login({ userId, token: server.issueToken(userId) });
      return client;
    };
    /** `watcher` subscribed to `peerId` (alice unless said); what it is told of that peer, in order. */
    const watching = async (watcher: Client, peerId = 'alice'): Promise<string[]> => {
      const seen: string[] = [];
      watcher.peersOnlineStatus$.subscribe((status) => {
        if (Object.hasOwn(status, peerId)) seen.push(status[peerId] ?? '?');
      });
      await watcher.subscribePeersOnlineStatus([peerId]);
      await until(() => seen.length === 1, 5_000, `${peerId}’s status now`);
      return seen;
    };
    return { clock, proxy, login, watching };
  };

  it('shows a peer UNREACHABLE while its link is cut, ONLINE when it is back, OFFLINE once its grace ended', async () => {
    const { clock, proxy, login, watching } = await world();
    await login('alice', 'proxy');
    const bob = await login('bob', 'direct');
    const seen = await watching(bob);
    expect(seen).toEqual(['ONLINE']);

    proxy.setDown(true);
    proxy.cutAll();
    await until(() => seen.length === 2, 5_000, 'alice unreachable');
    expect(seen).toEqual(['ONLINE', 'UNREACHABLE']);
    expect(await bob.queryPeersOnlineStatus(['alice'])).toEqual({ alice: 'UNREACHABLE' });

    proxy.setDown(false);
    await until(() => seen.length === 3, 5_000, 'alice back');
    expect(seen).toEqual(['ONLINE', 'UNREACHABLE', 'ONLINE']);

    proxy.setDown(true);
    proxy.cutAll();
    await until(() => seen.length === 4, 5_000, 'alice unreachable again');
    // Her session waits out its grace on the server's clock: still UNREACHABLE a moment before its end.
    clock.advance(GRACE_MS - 1);
    await delay(50);
    expect(seen).toEqual(['ONLINE', 'UNREACHABLE', 'ONLINE', 'UNREACHABLE']);
    clock.advance(1);
    await until(() => seen.length === 5, 5_000, 'alice offline');
    expect(seen).toEqual(['ONLINE', 'UNREACHABLE', 'ONLINE', 'UNREACHABLE', 'OFFLINE']);
    expect(await bob.queryPeersOnlineStatus(['alice'])).toEqual({ alice: 'OFFLINE' });
  }, 30_000);

  it('tells a logout as OFFLINE, with no UNREACHABLE before it', async () => {
    const { login, watching } = await world();
    const alice = await login('alice', 'direct');
    const bob = await login('bob', 'direct');
    const seen = await watching(bob);
    await alice.logout();
    await until(() => seen.length === 2, 5_000, 'alice offline');
    await delay(50);
    expect(seen).toEqual(['ONLINE', 'OFFLINE']);
  });

  it('keeps a watcher’s subscriptions across a fresh login of its transport (its session forgotten meanwhile)', async () => {
    const { clock, proxy, login, watching } = await world();
    const alice = await login('alice', 'direct');
    const bob = await login('bob', 'proxy');
    const states: string[] = [];
    bob.connectionState$.subscribe((state) => states.push(state));
    const seen = await watching(bob);
    const bobAsAliceSeesHim = await watching(alice, 'bob');

    proxy.setDown(true);
    proxy.cutAll();
    await until(() => bobAsAliceSeesHim.length === 2, 5_000, 'bob unreachable');
    // Bob's session outlives its grace at the server, which forgets it and its subscriptions.
    clock.advance(GRACE_MS + 1);
    await until(() => bobAsAliceSeesHim.length === 3, 5_000, 'bob offline');
    proxy.setDown(false);
    // Subscribed again on the fresh session: told alice's status as it is now.
    await until(() => seen.length === 2 && bobAsAliceSeesHim.length === 4, 5_000, 'the status told to the fresh session');
    expect(seen).toEqual(['ONLINE', 'ONLINE']);
    expect(bobAsAliceSeesHim).toEqual(['ONLINE', 'UNREACHABLE', 'OFFLINE', 'ONLINE']);
    expect(states).toContain('RECONNECTING');
    expect(states.at(-1)).toBe('CONNECTED');

    await alice.logout();
    await until(() => seen.length === 3, 5_000, 'alice offline');
    expect(seen).toEqual(['ONLINE', 'ONLINE', 'OFFLINE']);
  }, 30_000);
});
