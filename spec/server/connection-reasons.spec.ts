/**
 * Honest connection reasons against the real server (issue 12): a server restart is an interruption
 * (RECONNECTING/INTERRUPTED while it is down, a fresh login with the same token when it is back, channels
 * rejoined, messages received again), never a "logged in elsewhere"; only a real second login of the
 * same user is ABORTED/REMOTE_LOGIN. Over HTTP and WebSocket alike. Real time: the server's sockets are.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Client, type ConnectionChange, createClient, textMessage } from '../../src/index.js';
import type { FerryServer } from '../../src/server/server.js';
import { httpTransport } from '../../transports/http.js';
import type { Transport } from '../../transports/transport.js';
import { wsTransport } from '../../transports/ws.js';
import { delay, eventually, newDataDir, start } from './http-support.js';

const SECRET = 'connection reasons spec';
const reconnectDelays = [0, 50, 100];

const transports: readonly (readonly [string, (server: { url: string; wsUrl: string }) => Transport])[] = [
  ['http', (server) => httpTransport({ url: server.url, reconnectDelays })],
  ['ws', (server) => wsTransport({ url: server.wsUrl, reconnectDelays })],
];

describe.each(transports)('connection reasons over %s', (_name, transportTo) => {
  const clients: Client[] = [];
  afterEach(async () => {
    await Promise.allSettled(clients.splice(0).map((client) => client.logout()));
  });

  const loggedIn = async (server: FerryServer, userId: string): Promise<{ client: Client; changes: ConnectionChange[] }> => {
    const client = createClient({ transport: transportTo(server) });
    clients.push(client);
    const changes: ConnectionChange[] = [];
    client.connectionChange$.subscribe((change) => changes.push(change));
    await client.login({ userId, token: server.issueToken(userId) });
    return { client, changes };
  };
  const portOf = (server: FerryServer): number => Number(new URL(server.url).port);
  const last = (changes: readonly ConnectionChange[]): string => {
    const change = changes.at(-1);
    return change ? `${change.state}/${change.reason}` : 'none';
  };

  it('reports a server restart as INTERRUPTED, stays RECONNECTING while it is down, logs in afresh and goes on receiving', async () => {
    const dataDir = newDataDir();
    const first = await start({ dataDir, secret: SECRET }, { keep: true });
    const alice = await loggedIn(first, 'alice');
    const bob = await loggedIn(first, 'bob');
    await alice.client.createChannel('room').join();
    const bobRoom = bob.client.createChannel('room');
    await bobRoom.join();
    const heard: string[] = [];
    alice.client.peerMessages$.subscribe(({ message }) => heard.push(message.messageType === 'TEXT' ? message.text : '?'));
    alice.client.createChannel('room').messages$.subscribe(({ message }) => heard.push(message.messageType === 'TEXT' ? `room: ${message.text}` : '?'));

    await first.close();
    await eventually(() => last(alice.changes) === 'RECONNECTING/INTERRUPTED');
    // Down for a while: still trying, never ended.
    await delay(400);
    expect(last(alice.changes)).toBe('RECONNECTING/INTERRUPTED');

    const second = await start({ dataDir, secret: SECRET, port: portOf(first) });
    await eventually(() => last(alice.changes) === 'CONNECTED/LOGIN_SUCCESS' && last(bob.changes) === 'CONNECTED/LOGIN_SUCCESS', 10_000);
    expect(alice.changes.map((c) => `${c.state}/${c.reason}`)).toEqual([
      'CONNECTING/LOGIN',
      'CONNECTED/LOGIN_SUCCESS',
      'RECONNECTING/INTERRUPTED',
      'CONNECTED/LOGIN_SUCCESS',
    ]);

    await bob.client.sendMessageToPeer('alice', textMessage('after the restart'));
    // Both rejoined the channel with their fresh sessions.
    await eventually(async () => (await bobRoom.getMembers()).includes('alice'));
    await bobRoom.sendMessage(textMessage('still here'));
    await eventually(() => heard.length === 2);
    expect(heard).toEqual(['after the restart', 'room: still here']);
    expect(second.url).toBe(first.url);
  });

  it('reports ABORTED/REMOTE_LOGIN only when the same user really logs in elsewhere', async () => {
    const server = await start({ secret: SECRET });
    const first = await loggedIn(server, 'alice');
    const elsewhere = createClient({ transport: transportTo(server) });
    clients.push(elsewhere);
    await elsewhere.login({ userId: 'alice', token: server.issueToken('alice') });
    await eventually(() => last(first.changes) === 'ABORTED/REMOTE_LOGIN');
    expect(first.changes.map((c) => `${c.state}/${c.reason}`)).toEqual(['CONNECTING/LOGIN', 'CONNECTED/LOGIN_SUCCESS', 'ABORTED/REMOTE_LOGIN']);
  });

  it('reports a logout as DISCONNECTED/LOGOUT and a refused login as DISCONNECTED/LOGIN_FAILURE', async () => {
    const server = await start({ secret: SECRET });
    const { client, changes } = await loggedIn(server, 'alice');
    await client.logout();
    await client.login({ userId: 'alice', token: 'not-a-token' }).catch(() => undefined);
    expect(changes.map((c) => `${c.state}/${c.reason}`)).toEqual([
      'CONNECTING/LOGIN',
      'CONNECTED/LOGIN_SUCCESS',
      'DISCONNECTED/LOGOUT',
      'CONNECTING/LOGIN',
      'DISCONNECTED/LOGIN_FAILURE',
    ]);
  });
});
