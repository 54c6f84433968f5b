/**
 * A session that moves between nodes (issue 14, decision 96), over HTTP and WebSocket, against two real
 * servers on loopback sharing one store, upload state and bus. The client carries the session over (the
 * same session ID and the last delivery it saw: `http-failover.spec.ts` and `ws-failover.spec.ts` check
 * the requests); these check what the user sees, which needs the servers to resume a session another
 * node opened (decision 95):
 * - messages sent while the receiver's node is down arrive once each, in order, when it resumes on the
 *   other node, and the session is resumed there, not logged in afresh;
 * - a session that ended while its node was out of reach is reported ended by the next node (as today
 *   for an ended session: `ABORTED` with its reason), not taken back by a fresh login.
 */
import { firstValueFrom, filter, take, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { type ConnectionChange, textMessage } from '../../src/index.js';
import type { ServerFrame } from '../../src/protocol/ws-frames.js';
import { httpTransport } from '../../transports/http.js';
import type { Transport } from '../../transports/transport.js';
import { wsTransport } from '../../transports/ws.js';
import {
  type Exchange,
  failoverScope,
  recordingFetch,
  recordingWebSocket,
  type SocketLog,
  until,
  wsOf,
} from './failover-support.js';

/** How a spec reaches a list of nodes (given as `http://` bases) and what it recorded. */
interface Kind {
  readonly name: string;
  /**
   * A transport to these nodes, and what it recorded: how many logins the servers took as new sessions,
   * and whether the session was resumed at a node.
   */
  transport(bases: readonly string[]): { readonly transport: Transport; readonly freshLogins: () => number; readonly resumedAt: (base: string) => boolean };
}

const kinds: readonly Kind[] = [
  {
    name: 'HTTP',
    transport: (bases) => {
      const log: Exchange[] = [];
      return {
        transport: httpTransport({ url: [...bases], fetch: recordingFetch(log), reconnectDelays: [0, 50] }),
        freshLogins: () => log.filter((e) => e.method === 'POST' && e.path === '/v1/sessions').length,
        // The first event stream asked of that node opened (rather than 404, then a fresh login).
        resumedAt: (base) => log.find((e) => e.origin === base && e.path.endsWith('/events'))?.status === 200,
      };
    },
  },
  {
    name: 'WebSocket',
    transport: (bases) => {
      const log: SocketLog[] = [];
      const welcomes = (): Extract<ServerFrame, { type: 'welcome' }>[] =>
        log.flatMap((s) => s.received.filter((f): f is Extract<ServerFrame, { type: 'welcome' }> => f.type === 'welcome'));
      return {
        transport: wsTransport({ url: bases.map(wsOf), WebSocket: recordingWebSocket(log), reconnectDelays: [0, 50] }),
        freshLogins: () => welcomes().filter((w) => !w.resumed).length,
        resumedAt: (base) => log.some((s) => s.url === wsOf(base) && s.received.some((f) => f.type === 'welcome' && f.resumed)),
      };
    },
  },
];

describe.each(kinds)('a session moving between nodes over $name', (kind) => {
  const scope = failoverScope();

  it('delivers the messages sent while its node was down once each, in order, resuming the session at the next node', async () => {
    const nodes = await scope.twoNodes();
    const { a, b } = nodes;
    const alice = kind.transport([a.url, b.url]);
    const aliceClient = await scope.client('alice', alice.transport, a.issueToken('alice'));
    const bob = await scope.client('bob', kind.transport([b.url]).transport, b.issueToken('bob'));
    const changes: ConnectionChange[] = [];
    aliceClient.connectionChange$.subscribe((change) => changes.push(change));
    const texts: string[] = [];
    aliceClient.peerMessages$.subscribe(({ message }) => {
      if (message.messageType === 'TEXT') texts.push(message.text);
    });
    await bob.sendMessageToPeer('alice', textMessage('before'));
    await until(() => texts.length === 1, 5_000, '"before"');

    await a.close();
    // Sent at once: alice is still on her way to B.
    for (let i = 0; i < 10; i++) await bob.sendMessageToPeer('alice', textMessage(`m${i}`));
    await until(() => texts.length >= 11, 10_000, 'the ten messages');
    await until(() => changes.at(-1)?.state === 'CONNECTED', 10_000, 'alice connected at B');
    await bob.sendMessageToPeer('alice', textMessage('after'));
    await until(() => texts.includes('after'), 5_000, '"after"');
    expect(texts).toEqual(['before', ...Array.from({ length: 10 }, (_, i) => `m${i}`), 'after']);
    // Resumed at B: the one login is the first, at A.
    expect(alice.freshLogins()).toBe(1);
    expect(alice.resumedAt(b.url)).toBe(true);
    expect(changes.map((c) => c.state)).not.toContain('ABORTED');
    expect(changes.slice(-2)).toEqual([
      { state: 'RECONNECTING', reason: 'INTERRUPTED' },
      { state: 'CONNECTED', reason: 'LOGIN_SUCCESS' },
    ]);
  }, 30_000);

  it('is told at the next node that its session ended while its node was out of reach, and does not take it back', async () => {
    const nodes = await scope.twoNodes();
    const { a, b } = nodes;
    const toA = await scope.proxy(a.url);
    const first = await scope.client('alice', kind.transport([toA.url, b.url]).transport, a.issueToken('alice'));
    const ended = firstValueFrom(first.connectionChange$.pipe(filter((c) => c.state === 'ABORTED' || c.state === 'DISCONNECTED'), take(1)));
    // A goes silent for this client and refuses it from now on; meanwhile alice logs in again at B.
    await toA.holdAfter(0, 'down');
    toA.setDown(true);
    const second = await scope.client('alice', kind.transport([b.url]).transport, b.issueToken('alice'));
    const secondChanges = firstValueFrom(second.connectionChange$.pipe(take(2), toArray()));
    await a.close();
    const timeout = new Promise((resolve) => setTimeout(() => resolve('no end within 10 s'), 10_000));
    expect(await Promise.race([ended, timeout])).toEqual({ state: 'ABORTED', reason: 'REMOTE_LOGIN' });
    // The second login keeps its session: the first did not log in afresh and take it back.
    const bob = await scope.client('bob', kind.transport([b.url]).transport, b.issueToken('bob'));
    const toSecond = firstValueFrom(second.peerMessages$.pipe(take(1)));
    await bob.sendMessageToPeer('alice', textMessage('still here?'));
    expect((await toSecond).message).toEqual(textMessage('still here?'));
    expect(await Promise.race([secondChanges, new Promise((resolve) => setTimeout(() => resolve('unchanged'), 200))])).toBe('unchanged');
  }, 30_000);
});
