/**
 * The server session that outlives its connection (`server-sessions.ts`, issue 13), on a virtual clock:
 * grace expiry, eviction order, replay bounded by bytes, resumption after a gap, a connection replaced
 * mid-stream, the end of a session and a failed hub logout. One suite, run with each transport's sink
 * (the event-stream sink over a fake response, the WebSocket sink over a fake socket) and its encoding,
 * so both wires are held to the same duties; then what only the event stream does (pushback).
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { afterEach, describe, expect, it } from 'vitest';
import { type VirtualClock, virtualClock } from '../../src/core/clock.js';
import { textMessage } from '../../src/core/messages.js';
import { createHub, type Hub, type HubSession } from '../../src/hub/hub.js';
import type { ServerFrame } from '../../src/protocol/ws-frames.js';
import { type ServerSession, serverSessions, type SessionSink } from '../../src/server/server-sessions.js';
import { type EventStreamResponse, STREAM_HIGH_WATER, sseEvent, sseSink } from '../../src/server/sse-sink.js';
import { wsSessions } from '../../src/server/ws-sessions.js';
import { wsEventText } from '../../src/protocol/ws-frames.js';
import { wsSink } from '../../src/server/ws-sink.js';
import { fcOptions } from '../properties/support.js';

const GRACE_MS = 60_000;

/** A connection as a spec sees it: its sink, the event numbers it was written, and how it was closed. */
interface Connection<S> {
  readonly sink: S;
  readonly seqs: number[];
  /** `ended` (closed after what was written), `cut` (dropped at once), or still `open`. */
  readonly state: () => 'open' | 'ended' | 'cut';
}

/** The registry options a spec varies. */
interface RegistryOptions {
  readonly hub: Hub;
  readonly replayBytes?: number;
  readonly sessionsPerUser?: number;
  readonly onEvicted?: () => void;
  readonly onFault?: (error: unknown, where: string) => void;
}

/** What the registry offers a spec, the same for both transports. */
interface Registry<S> {
  open(login: HubSession): ServerSession<S>;
  get(id: string): ServerSession<S> | undefined;
  tombstone(id: string, userId: string): { readonly event: { readonly type: string } } | undefined;
  attach(session: ServerSession<S>, sink: S, lastSeq: number): void;
  pump(session: ServerSession<S>): void;
  detach(session: ServerSession<S>, sink: S): void;
  logout(session: ServerSession<S>): void;
  close(): void;
}

/** One transport's sink and encoding. */
interface Flavour<S> {
  readonly name: string;
  readonly registry: (options: RegistryOptions) => Registry<S>;
  readonly connection: () => Connection<S>;
}

/** A response that takes every byte at once unless `stalled`. */
const fakeResponse = () => {
  const res = {
    destroyed: false,
    writableEnded: false,
    writableLength: 0,
    stalled: false,
    written: [] as string[],
    write(text: string) {
      res.written.push(text);
      if (res.stalled) res.writableLength += text.length;
      return true;
    },
    end() {
      res.writableEnded = true;
    },
    destroy() {
      res.destroyed = true;
    },
  };
  const typed: EventStreamResponse = res;
  return { res, typed };
};

const seqOfFrame = (text: string): number => Number(/^id: (\d+)\n/.exec(text)?.[1]);

const sse: Flavour<SessionSink<string>> = {
  name: 'the event-stream sink',
  registry: (options) => {
    const sessions = serverSessions<string, SessionSink<string>>({ ...options, encode: sseEvent, sizeOf: (text) => text.length, graceMs: GRACE_MS });
    return { ...sessions, open: (login) => sessions.open(login, {}) };
  },
  connection: () => {
    const { res, typed } = fakeResponse();
    return {
      sink: sseSink(typed),
      get seqs() {
        return res.written.map(seqOfFrame);
      },
      state: () => (res.destroyed ? 'cut' : res.writableEnded ? 'ended' : 'open'),
    };
  },
};

const ws: Flavour<ReturnType<typeof wsSink>> = {
  name: 'the WebSocket sink',
  registry: (options) => wsSessions({ ...options, graceMs: GRACE_MS, onEnded: () => undefined }),
  connection: () => {
    const socket = { readyState: 1, OPEN: 1 };
    const sent: ServerFrame[] = [];
    let closedWith: number | undefined;
    const output = {
      sendText: (frame: ServerFrame) => {
        if (socket.readyState === socket.OPEN) sent.push(frame);
      },
      // An event serialized once: the frame's text must be its JSON as `sendText` would have written it.
      sendEvent: (seq: number, eventJson: string) => {
        const text = wsEventText(seq, eventJson);
        const frame = JSON.parse(text) as ServerFrame;
        expect(text).toBe(JSON.stringify(frame));
        if (socket.readyState === socket.OPEN) sent.push(frame);
      },
      end: (code: number) => {
        closedWith = code;
        socket.readyState = 2;
      },
    };
    return {
      sink: wsSink(socket, output),
      get seqs() {
        return sent.flatMap((frame) => (frame.type === 'event' ? [frame.seq] : []));
      },
      // Every close of a session's socket says the session ended (4000) or that it read too slowly.
      state: () => (closedWith === undefined ? 'open' : closedWith === 4000 ? 'ended' : 'cut'),
    };
  },
};

/** A hub on a virtual clock, with no message or login rate in the way. */
const world = () => {
  const clock: VirtualClock = virtualClock(Date.UTC(2026, 0, 1));
  const hub = createHub({ clock, limits: { messageRate: { limit: Infinity, windowMs: 1_000 }, loginRate: { limit: Infinity, windowMs: 1_000 } } });
  const login = async (userId: string): Promise<HubSession> => {
    const result = await hub.login(userId, hub.issueToken(userId));
    if (E.isLeft(result)) throw new Error(`login of ${userId} refused: ${result.left._tag}`);
    return result.right;
  };
  return { clock, hub, login };
};

const hubs: Hub[] = [];
afterEach(() => {
  for (const hub of hubs.splice(0)) hub.close();
});

describe.each([sse, ws] as Flavour<SessionSink<unknown>>[])('a server session, written to $name', (flavour) => {
  const setup = async (options: Omit<RegistryOptions, 'hub'> = {}) => {
    const w = world();
    hubs.push(w.hub);
    const sessions = flavour.registry({ hub: w.hub, ...options });
    const bob = await w.login('bob');
    const send = async (count: number, text = 'hi'): Promise<void> => {
      for (let i = 0; i < count; i++) expect(E.isRight(await w.hub.sendToPeer(bob, 'alice', textMessage(text)))).toBe(true);
    };
    return { ...w, sessions, send };
  };

  it('keeps a session whose connection dropped for the grace on the hub clock, then forgets it and logs it out at the hub', async () => {
    const { clock, sessions, login } = await setup();
    const login1 = await login('alice');
    let completed = false;
    login1.events$.subscribe({ complete: () => (completed = true) });
    const session = sessions.open(login1);
    const connection = flavour.connection();
    sessions.attach(session, connection.sink, 0);
    clock.advance(GRACE_MS * 3);
    expect(sessions.get(session.id)).toBe(session);
    sessions.detach(session, connection.sink);
    clock.advance(GRACE_MS - 1);
    expect(sessions.get(session.id)).toBe(session);
    clock.advance(1);
    expect(sessions.get(session.id)).toBeUndefined();
    expect(session.ended).toBe(true);
    expect(completed).toBe(true);
    // Outliving the grace is no kick: nothing to tell a late client.
    expect(sessions.tombstone(session.id, 'alice')).toBeUndefined();
  });

  it('forgets the oldest of a user’s sessions beyond sessionsPerUser, counting each, and remembers why a kicked one ended', async () => {
    let evicted = 0;
    const { sessions, login } = await setup({ sessionsPerUser: 2, onEvicted: () => evicted++ });
    const opened: ServerSession<SessionSink<unknown>>[] = [];
    for (let i = 0; i < 4; i++) opened.push(sessions.open(await login('alice')));
    expect(evicted).toBe(2);
    expect(opened.map((s) => sessions.get(s.id) !== undefined)).toEqual([false, false, true, true]);
    // Each login elsewhere kicked the one before it at the hub: the evicted ones say so, to alice only.
    expect(sessions.tombstone(opened[0]?.id ?? '', 'alice')?.event.type).toBe('aborted');
    expect(sessions.tombstone(opened[1]?.id ?? '', 'alice')?.event.type).toBe('aborted');
    expect(sessions.tombstone(opened[0]?.id ?? '', 'mallory')).toBeUndefined();
    expect(sessions.tombstone(opened[3]?.id ?? '', 'alice')).toBeUndefined();
  });

  it('replays the newest events that fit in its byte bound to a connection resuming from 0, numbered as they were sent', async () => {
    // About 1.1 to 1.2 KB per event in either encoding (the event stream's frame carries the message ID
    // too): three fit in 3,600 bytes, four do not.
    const { sessions, login, send } = await setup({ replayBytes: 3_600 });
    const session = sessions.open(await login('alice'));
    await send(10, 'x'.repeat(1_000));
    const connection = flavour.connection();
    sessions.attach(session, connection.sink, 0);
    sessions.pump(session);
    expect(connection.seqs).toEqual([8, 9, 10]);
    await send(1);
    expect(connection.seqs).toEqual([8, 9, 10, 11]);
  });

  it('resumes after a gap: a connection that saw up to n is written n+1 on, once each, then what comes live', async () => {
    const { clock, sessions, login, send } = await setup();
    const session = sessions.open(await login('alice'));
    const first = flavour.connection();
    sessions.attach(session, first.sink, 0);
    sessions.pump(session);
    await send(3);
    expect(first.seqs).toEqual([1, 2, 3]);
    sessions.detach(session, first.sink);
    await send(3);
    clock.advance(GRACE_MS - 1);
    const second = flavour.connection();
    sessions.attach(session, second.sink, 3);
    sessions.pump(session);
    expect(second.seqs).toEqual([4, 5, 6]);
    await send(1);
    expect(second.seqs).toEqual([4, 5, 6, 7]);
    expect(first.seqs).toEqual([1, 2, 3]);
    // Attached again: the grace stopped.
    clock.advance(GRACE_MS * 2);
    expect(sessions.get(session.id)).toBe(session);
  });

  it('tells the hub its connection went (UNREACHABLE) and came back (ONLINE), and nothing at the first attach, a replacing attach or a replaced one’s late detach', async () => {
    const w = world();
    hubs.push(w.hub);
    const told: boolean[] = [];
    const hub: Hub = {
      ...w.hub,
      setReachable: (session, reachable) => {
        told.push(reachable);
        w.hub.setReachable(session, reachable);
      },
    };
    const sessions = flavour.registry({ hub });
    const bob = await w.login('bob');
    const statusOfAlice = async () => E.map((peers: Record<string, string>) => peers['alice'])(await w.hub.queryPresence(bob, ['alice']));
    const session = sessions.open(await w.login('alice'));
    const first = flavour.connection();
    sessions.attach(session, first.sink, 0);
    const second = flavour.connection();
    sessions.attach(session, second.sink, 0);
    sessions.detach(session, first.sink);
    expect(told).toEqual([]);
    expect(await statusOfAlice()).toEqual(E.right('ONLINE'));
    sessions.detach(session, second.sink);
    expect(told).toEqual([false]);
    expect(await statusOfAlice()).toEqual(E.right('UNREACHABLE'));
    sessions.attach(session, flavour.connection().sink, 0);
    expect(told).toEqual([false, true]);
    expect(await statusOfAlice()).toEqual(E.right('ONLINE'));
    sessions.logout(session);
    expect(await statusOfAlice()).toEqual(E.right('OFFLINE'));
    expect(told).toEqual([false, true]);
  });

  it('hands a session replaced mid-stream to the new connection: the old one is closed, and its late detach starts no grace', async () => {
    const { clock, sessions, login, send } = await setup();
    const session = sessions.open(await login('alice'));
    const old = flavour.connection();
    sessions.attach(session, old.sink, 0);
    sessions.pump(session);
    await send(2);
    const replacement = flavour.connection();
    // The client saw only the first event before it gave up on the old connection.
    sessions.attach(session, replacement.sink, 1);
    expect(old.state()).not.toBe('open');
    sessions.pump(session);
    await send(1);
    expect(replacement.seqs).toEqual([2, 3]);
    expect(old.seqs).toEqual([1, 2]);
    expect(session.sink).toBe(replacement.sink);
    sessions.detach(session, old.sink);
    clock.advance(GRACE_MS * 2);
    expect(sessions.get(session.id)).toBe(session);
  });

  it('writes an ended session’s last events and ends its connection; one resuming it within the grace is told the same', async () => {
    const { clock, sessions, login, send } = await setup();
    const session = sessions.open(await login('alice'));
    const first = flavour.connection();
    sessions.attach(session, first.sink, 0);
    sessions.pump(session);
    await send(1);
    await login('alice'); // a login elsewhere: the hub kicks this session
    expect(session.ended).toBe(true);
    expect(first.seqs).toEqual([1, 2]);
    expect(first.state()).toBe('ended');
    expect(session.sink).toBeUndefined();
    const late = flavour.connection();
    sessions.attach(session, late.sink, 1);
    sessions.pump(session);
    expect(late.seqs).toEqual([2]);
    expect(late.state()).toBe('ended');
    // Its grace runs again after that connection: then the tombstone answers.
    clock.advance(GRACE_MS);
    expect(sessions.get(session.id)).toBeUndefined();
    expect(sessions.tombstone(session.id, 'alice')?.event.type).toBe('aborted');
  });

  it('logs a session out at once: forgotten, its connection ended, its hub session over', async () => {
    const { sessions, login } = await setup();
    const hubSession = await login('alice');
    let completed = false;
    hubSession.events$.subscribe({ complete: () => (completed = true) });
    const session = sessions.open(hubSession);
    const connection = flavour.connection();
    sessions.attach(session, connection.sink, 0);
    sessions.logout(session);
    expect(sessions.get(session.id)).toBeUndefined();
    expect(connection.state()).toBe('ended');
    await Promise.resolve();
    expect(completed).toBe(true);
  });

  it('tells onFault when the hub fails to log a forgotten session out, instead of leaving the rejection unhandled', async () => {
    const w = world();
    hubs.push(w.hub);
    const faults: [unknown, string][] = [];
    const failing: Hub = { ...w.hub, logout: () => Promise.reject(new Error('the bus is down')) };
    const sessions = flavour.registry({ hub: failing, onFault: (error, where) => faults.push([error, where]) });
    const session = sessions.open(await w.login('alice'));
    w.clock.advance(GRACE_MS);
    expect(sessions.get(session.id)).toBeUndefined();
    await new Promise((resolve) => setImmediate(resolve));
    expect(faults).toEqual([[new Error('the bus is down'), 'logout']]);
  });

  it('writes every event once and in order to a client that drops and resumes from what it saw, whatever the interleaving', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.record({ op: fc.constant('send' as const), count: fc.integer({ min: 1, max: 3 }) }), fc.constant({ op: 'drop' as const }), fc.constant({ op: 'resume' as const }), fc.record({ op: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: GRACE_MS - 1 }) })), { maxLength: 25 }),
        async (steps) => {
          const { clock, sessions, login, send } = await setup();
          const session = sessions.open(await login('alice'));
          /** What the client saw, over all its connections. */
          const seen: number[] = [];
          let connection: Connection<SessionSink<unknown>> | undefined;
          let sent = 0;
          /** Collects what the connection got since it was last read, then forgets its earlier writes. */
          let read = 0;
          const collect = (): void => {
            if (!connection) return;
            seen.push(...connection.seqs.slice(read));
            read = connection.seqs.length;
          };
          const resume = (): void => {
            collect();
            connection = flavour.connection();
            read = 0;
            sessions.attach(session, connection.sink, seen.at(-1) ?? 0);
            sessions.pump(session);
          };
          resume();
          // A dropped connection's grace never runs out here: each wait is shorter, and the next resume comes before another.
          let waited = 0;
          for (const step of steps) {
            if (step.op === 'send') {
              await send(step.count);
              sent += step.count;
            } else if (step.op === 'drop' && connection) {
              collect();
              sessions.detach(session, connection.sink);
              connection = undefined;
              waited = 0;
            } else if (step.op === 'resume') {
              resume();
            } else if (step.op === 'wait' && (connection || waited + step.ms < GRACE_MS)) {
              clock.advance(step.ms);
              if (!connection) waited += step.ms;
            }
          }
          resume();
          collect();
          expect(seen).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
        },
      ),
      fcOptions(40),
    );
  });
});

describe('an event stream’s sink', () => {
  const setup = async (replayEvents = 1_000) => {
    const w = world();
    hubs.push(w.hub);
    let slow = 0;
    const sessions = serverSessions<string, SessionSink<string>>({ hub: w.hub, encode: sseEvent, sizeOf: (text) => text.length, replayEvents });
    const session = sessions.open(await w.login('alice'), {});
    const bob = await w.login('bob');
    const { res, typed } = fakeResponse();
    const sink = sseSink(typed, () => slow++);
    sessions.attach(session, sink, 0);
    sessions.pump(session);
    const send = async (count: number, text: string): Promise<void> => {
      for (let i = 0; i < count; i++) await w.hub.sendToPeer(bob, 'alice', textMessage(text));
    };
    return { sessions, session, res, send, slow: () => slow };
  };

  it('is not written while more than 64 KiB wait unsent: the replay holds the rest, and a drain writes it', async () => {
    const { sessions, session, res, send } = await setup();
    res.stalled = true;
    await send(10, 'x'.repeat(16 * 1024));
    // Written until more than the high-water mark waits, so by one event at most.
    expect(res.written.length).toBeLessThan(10);
    expect(res.writableLength).toBeGreaterThan(STREAM_HIGH_WATER);
    expect(res.writableLength - (res.written.at(-1)?.length ?? 0)).toBeLessThanOrEqual(STREAM_HIGH_WATER);
    res.stalled = false;
    res.writableLength = 0;
    sessions.pump(session);
    expect(res.written.map(seqOfFrame)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
  });

  it('is cut, the slow reader counted, once the next event it needs left the replay', async () => {
    const { session, sessions, res, send, slow } = await setup(5);
    res.stalled = true;
    await send(12, 'x'.repeat(16 * 1024));
    expect(res.destroyed).toBe(true);
    expect(slow()).toBe(1);
    // Its client resumes with Last-Event-ID from what the replay still has.
    const { res: next, typed } = fakeResponse();
    sessions.attach(session, sseSink(typed), seqOfFrame(res.written.at(-1) ?? ''));
    sessions.pump(session);
    expect(next.written.map(seqOfFrame)).toEqual([8, 9, 10, 11, 12]);
  });
});
