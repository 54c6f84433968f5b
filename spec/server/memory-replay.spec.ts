/**
 * Issue 12, defect 3: replay buffers bounded by count alone. An HTTP session kept its last 1,000 events
 * (44 MiB of 32 KiB messages) for 60 s after each login, and 20 sessions of one user took the server to
 * 1 GiB. Now each session keeps at most `replayBytes` (1 MiB) and the server at most `sessionsPerUser` (4)
 * sessions of a user, the oldest forgotten: one user holds at most 4 MiB of replay per transport.
 *
 * The real server runs in a child process that reports its memory (`memory-server-child.ts`). Alice logs
 * in 20 times over one transport with raw clients; each login ends the previous session (the server keeps
 * it through its grace, so a client that reconnects learns why), and each session receives 100 × 30 KiB
 * messages (3 MiB) while it is the live one. No event stream is ever read.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  BIG_TEXT,
  eventsStatus,
  sessionState,
  FLOOD_LIMITS,
  growth,
  type Growth,
  type HttpSession,
  httpLogin,
  type MemoryServer,
  MiB,
  startMemoryServer,
  warmUp,
  wsClose,
  wsFloodPeer,
  wsLogin,
  type WsLogin,
} from './memory-support.js';

const SESSIONS = 20;
const PER_SESSION = 100;
const SENT_MIB = (SESSIONS * PER_SESSION * BIG_TEXT.length) / MiB; // 58.6
const SESSIONS_PER_USER = 4;
const REPLAY_MIB = 1;
/** What the replays of one user may hold. */
const HELD_MIB = SESSIONS_PER_USER * REPLAY_MIB;
/** RSS after GC: the replays, plus slack for pages the allocator keeps after the flood's garbage is freed. */
const RSS_BOUND_MIB = HELD_MIB + 20;
/** The heap after GC is the sharp figure: the replays, plus the few kept answers and session records. */
const HEAP_BOUND_MIB = HELD_MIB + 3;
/** The peak, with the flood's garbage not yet collected. */
const PEAK_BOUND_MIB = 48;

let server: MemoryServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

const report = (what: string, grew: Growth): void =>
  console.log(`${what}: server RSS peak +${grew.peakRss.toFixed(1)} MiB, after GC +${grew.rss.toFixed(1)} MiB, heap +${grew.heapUsed.toFixed(1)} MiB`);

/** Alice's 20 HTTP sessions, each sent 100 big messages by bob while it is the live one. */
const httpSessions = async (running: MemoryServer): Promise<{ sessions: HttpSession[]; grew: Growth }> => {
  await warmUp(running);
  const bob = await wsLogin(running.wsUrl, 'bob');
  const base = await running.mark();
  const sessions: HttpSession[] = [];
  for (let i = 0; i < SESSIONS; i++) {
    sessions.push(await httpLogin(running.url, 'alice'));
    await wsFloodPeer(bob, 'alice', PER_SESSION, BIG_TEXT);
  }
  const grew = growth(base, await running.measure());
  await wsClose(bob.ws);
  return { sessions, grew };
};

describe('the replay buffers of one user', () => {
  it(`hold at most ${SESSIONS_PER_USER} × 1 MiB over HTTP after ${SESSIONS} sessions with ${PER_SESSION} × 30 KiB each, and only the newest ${SESSIONS_PER_USER} sessions stay known`, async () => {
    server = await startMemoryServer({ limits: FLOOD_LIMITS });
    const { sessions, grew } = await httpSessions(server);
    report(`HTTP, ${SESSIONS} sessions × ${PER_SESSION} × 30 KiB (${SENT_MIB.toFixed(1)} MiB)`, grew);
    expect(grew.heapUsed).toBeLessThan(HEAP_BOUND_MIB);
    expect(grew.rss).toBeLessThan(RSS_BOUND_MIB);
    expect(grew.peakRss).toBeLessThan(PEAK_BOUND_MIB);
    // The older ones are forgotten: the newest 8 of those still say that they were taken (REMOTE_LOGIN,
    // at most 8 remembered per user), the oldest are unknown.
    const states = await Promise.all(sessions.map((session) => sessionState(server?.url ?? '', session)));
    const remembered = 8;
    expect(states).toEqual([
      ...Array<string>(SESSIONS - SESSIONS_PER_USER - remembered).fill('unknown'),
      ...Array<string>(remembered).fill('forgotten'),
      ...Array<string>(SESSIONS_PER_USER).fill('kept'),
    ]);
  });

  it('with the bounds lifted, the same sessions hold what was sent: the measure sees the defect', async () => {
    server = await startMemoryServer({ limits: { ...FLOOD_LIMITS, sessionsPerUser: 1_000, replayBytes: 2 ** 40 } });
    const { sessions, grew } = await httpSessions(server);
    report('HTTP, no replay bounds', grew);
    expect(grew.heapUsed).toBeGreaterThan(SENT_MIB * 0.8);
    expect(grew.rss).toBeGreaterThan(SENT_MIB * 0.8);
    expect(await eventsStatus(server.url, sessions[0] as HttpSession)).toBe(200);
  });

  it(`hold at most ${SESSIONS_PER_USER} × 1 MiB over WebSocket after ${SESSIONS} sessions with ${PER_SESSION} × 30 KiB each, and the oldest are forgotten`, async () => {
    server = await startMemoryServer({ limits: FLOOD_LIMITS });
    const running = server;
    await warmUp(running);
    const bob = await wsLogin(running.wsUrl, 'bob');
    const base = await running.mark();
    const logins: WsLogin[] = [];
    for (let i = 0; i < SESSIONS; i++) {
      // Alice's previous socket is closed by this login (her session ended elsewhere), its session kept through its grace.
      logins.push(await wsLogin(running.wsUrl, 'alice'));
      await wsFloodPeer(bob, 'alice', PER_SESSION, BIG_TEXT);
    }
    const last = logins.at(-1) as WsLogin;
    await wsClose(last.ws);
    const grew = growth(base, await running.measure());
    report(`WebSocket, ${SESSIONS} sessions × ${PER_SESSION} × 30 KiB (${SENT_MIB.toFixed(1)} MiB)`, grew);
    expect(grew.heapUsed).toBeLessThan(HEAP_BOUND_MIB);
    expect(grew.rss).toBeLessThan(RSS_BOUND_MIB);
    expect(grew.peakRss).toBeLessThan(PEAK_BOUND_MIB);
    // The newest, dropped within its grace, resumes with its replay; one beyond the newest four was
    // forgotten: resuming it only tells that it was taken (no replay, the socket closes with 4000), with
    // the number the bus gave that event: after its 100 messages.
    const resumed = await wsLogin(running.wsUrl, 'alice', { sessionId: last.sessionId, lastSeq: PER_SESSION });
    expect(resumed.resumed).toBe(true);
    await wsClose(resumed.ws);
    const forgotten = logins[SESSIONS - SESSIONS_PER_USER - 1] as WsLogin;
    const told = await wsLogin(running.wsUrl, 'alice', { sessionId: forgotten.sessionId, lastSeq: 0 });
    const code = await new Promise<number>((resolve) => told.ws.once('close', (closeCode: number) => resolve(closeCode)));
    expect(code).toBe(4000);
    expect(told.seqs).toEqual([PER_SESSION + 1]);
    await wsClose(bob.ws);
  });
});
