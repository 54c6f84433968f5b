/**
 * Channel fan-out serializes an event once for every member it goes to (decision 116): what each socket
 * and each event stream is sent must stay byte for byte what the old per-member serialization wrote, and
 * the registry must encode and measure an event once however many sessions receive it.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { afterEach, describe, expect, it } from 'vitest';
import { textMessage } from '../../src/core/messages.js';
import { createHub, type Hub } from '../../src/hub/hub.js';
import type { HubEvent } from '../../src/hub/message-bus.js';
import { serverSessions, type SessionSink } from '../../src/server/server-sessions.js';
import { sseEvent, sseNumbered } from '../../src/server/sse-sink.js';
import { EVENT_FRAME_CHARS, wsEventText } from '../../src/protocol/ws-frames.js';
import { fcOptions } from '../properties/support.js';

/** Events as the hub makes them: channel and peer messages with any text, member and presence events. */
const eventArb: fc.Arbitrary<HubEvent> = fc.oneof(
  fc.record({
    type: fc.constant('channelMessage' as const),
    channelId: fc.string({ minLength: 1, maxLength: 64 }),
    memberId: fc.string({ minLength: 1, maxLength: 64 }),
    message: fc.record({ messageType: fc.constant('TEXT' as const), text: fc.string({ unit: 'binary', maxLength: 200 }) }),
    serverReceivedTs: fc.nat(),
    messageId: fc.string({ maxLength: 64 }),
  }),
  fc.record({
    type: fc.constant('peerMessage' as const),
    peerId: fc.string({ minLength: 1, maxLength: 64 }),
    message: fc.record({ messageType: fc.constant('RAW' as const), rawMessage: fc.base64String({ maxLength: 100 }), description: fc.string() }),
    serverReceivedTs: fc.nat(),
    messageId: fc.string({ maxLength: 64 }),
  }),
  fc.record({ type: fc.constant('memberJoined' as const), channelId: fc.string(), userId: fc.string(), memberCount: fc.nat() }),
  fc.record({ type: fc.constant('presence' as const), userId: fc.string(), state: fc.constantFrom('ONLINE' as const, 'OFFLINE' as const, 'UNREACHABLE' as const) }),
) as fc.Arbitrary<HubEvent>;

const seqArb = fc.oneof(fc.nat({ max: 1_000 }), fc.maxSafeNat());

describe('an event serialized once for every member', () => {
  it('is sent on a socket exactly as JSON.stringify of its event frame, its size bound counting the frame', () => {
    fc.assert(
      fc.property(eventArb, seqArb, (event, seq) => {
        const text = wsEventText(seq, JSON.stringify(event));
        expect(text).toBe(JSON.stringify({ type: 'event', seq, event }));
        expect(text.length).toBeLessThanOrEqual(JSON.stringify(event).length + EVENT_FRAME_CHARS);
      }),
      fcOptions(300),
    );
  });

  it('is written to an event stream exactly as the server-sent event it was before', () => {
    fc.assert(
      fc.property(eventArb, seqArb, (event, seq) => {
        expect(sseNumbered(seq, sseEvent(event))).toBe(`id: ${seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
      }),
      fcOptions(300),
    );
  });
});

describe('a channel message to many sessions', () => {
  const hubs: Hub[] = [];
  afterEach(() => {
    for (const hub of hubs.splice(0)) hub.close();
  });

  it('is encoded and measured once, and each member is written it with its own number', async () => {
    const hub = createHub({ limits: { messageRate: { limit: Infinity, windowMs: 1_000 }, loginRate: { limit: Infinity, windowMs: 1_000 } } });
    hubs.push(hub);
    const encoded: HubEvent[] = [];
    let measured = 0;
    const sessions = serverSessions<string, SessionSink<string>>({
      hub,
      encode: (event) => {
        encoded.push(event);
        return JSON.stringify(event);
      },
      sizeOf: (json) => {
        measured++;
        return json.length;
      },
    });
    const written = new Map<string, [number, string][]>();
    const members = [];
    for (const userId of ['a', 'b', 'c', 'd', 'e']) {
      const login = await hub.login(userId, hub.issueToken(userId));
      if (E.isLeft(login)) throw new Error(`login of ${userId}: ${login.left._tag}`);
      const session = sessions.open(login.right, {});
      const mine: [number, string][] = [];
      written.set(userId, mine);
      sessions.attach(session, { open: true, full: false, write: (seq, item) => mine.push([seq, item]), fellBehind: () => undefined, end: () => undefined, replaced: () => undefined }, 0);
      sessions.pump(session);
      expect(E.isRight(await hub.joinChannel(login.right, 'room'))).toBe(true);
      members.push(login.right);
    }
    for (const mine of written.values()) mine.splice(0);
    encoded.splice(0);
    measured = 0;
    const sender = members[0];
    if (!sender) throw new Error('no sender');
    expect(E.isRight(await hub.sendToChannel(sender, 'room', textMessage('hello room')))).toBe(true);
    // One event for four receivers: encoded once, measured once.
    expect(encoded.map((event) => event.type)).toEqual(['channelMessage']);
    expect(measured).toBe(1);
    expect(written.get('a')).toEqual([]);
    const texts = ['b', 'c', 'd', 'e'].map((userId) => written.get(userId) ?? []);
    for (const mine of texts) expect(mine).toHaveLength(1);
    // The same text to each, with each session's own number (each saw a different count of joins before).
    expect(new Set(texts.map((mine) => mine[0]?.[1])).size).toBe(1);
    expect(texts.map((mine) => mine[0]?.[0])).toEqual([4, 3, 2, 1]);
  });
});
