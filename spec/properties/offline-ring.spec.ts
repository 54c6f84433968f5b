/**
 * Model-based property (fc.commands) of offline messages (issue 15), against a tiny model that predicts
 * every answer and every delivery: the newest 200 per receiver (the 201st replaces the oldest), the
 * sender's `limits.offlineMessages` (7 here) counted across receivers and released when a message is
 * delivered, replaced or expires, expiry at min(7 days, retention) on the virtual clock, delivery at
 * login in the order sent with `isOfflineMessage: true`, and live delivery (`RECEIVED`,
 * `isOfflineMessage: false`) to a receiver who is online.
 *
 * Three senders are clients; a crowd of 30 more senders (hub sessions, sending through the hub as a
 * server would) fills a receiver's 200 so that replacement is reached at all: 3 senders at 7 each cannot.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import {
  type Client,
  createClient,
  createHub,
  encodeMessage,
  FerryError,
  type Hub,
  type HubSession,
  memoryTransport,
  OFFLINE_MESSAGES_PER_RECEIVER,
  type PeerMessageEvent,
  textMessage,
  virtualClock,
  type VirtualClock,
} from '../../src/index.js';
import { fcOptions } from './support.js';

const RING = OFFLINE_MESSAGES_PER_RECEIVER;
const PER_SENDER = 7;
/** The hub's retention, shorter than 7 days: the offline messages' lifetime. */
const TTL_MS = 60_000;
const SENDERS = ['s0', 's1', 's2'] as const;
const RECEIVERS = ['r0', 'r1'] as const;
const CROWD = Array.from({ length: 30 }, (_, i) => `crowd${String(i).padStart(2, '0')}`);

type Sender = (typeof SENDERS)[number];
type Receiver = (typeof RECEIVERS)[number];
type Release = 'delivery' | 'replacement' | 'expiry';

/** What a receiver sees of one message. */
interface Seen {
  readonly peerId: string;
  readonly text: string;
  readonly serverReceivedTs: number;
  readonly messageId: string;
  readonly isOfflineMessage: boolean;
}

interface KeptModel {
  readonly from: string;
  readonly text: string;
  readonly messageId: string;
  readonly sentAt: number;
}

interface Model {
  now: number;
  readonly online: Set<Receiver>;
  /** Each receiver's kept messages, oldest first (expired ones included until something looks). */
  readonly inbox: Record<Receiver, KeptModel[]>;
  readonly expected: Record<Receiver, Seen[]>;
  /** Per main sender: refused since its last accepted offline send, and what released its messages since. */
  readonly waiting: Map<string, Set<Release>>;
  serial: number;
}

interface Real {
  readonly clock: VirtualClock;
  readonly hub: Hub;
  readonly senders: Record<Sender, Client>;
  readonly receivers: Record<Receiver, Client>;
  readonly received: Record<Receiver, Seen[]>;
  readonly crowd: Map<string, HubSession>;
}

/** How often each release let a refused sender send again, over every run: each must be seen. */
const freedBy: Record<Release, number> = { delivery: 0, replacement: 0, expiry: 0 };

const alive = (m: Model, kept: KeptModel): boolean => m.now < kept.sentAt + TTL_MS;
const liveOf = (m: Model, sender: string): number =>
  RECEIVERS.reduce((n, r) => n + m.inbox[r].filter((kept) => kept.from === sender && alive(m, kept)).length, 0);
const released = (m: Model, kept: KeptModel, why: Release): void => {
  m.waiting.get(kept.from)?.add(why);
};

/** The model's answer to an offline-enabled send to an offline receiver, with its effect. */
const keepInModel = (m: Model, from: string, r: Receiver): 'cached' | 'full' => {
  if (liveOf(m, from) >= PER_SENDER) return 'full';
  const inbox = m.inbox[r].filter((kept) => alive(m, kept));
  while (inbox.length >= RING) released(m, inbox.shift() as KeptModel, 'replacement');
  m.inbox[r] = inbox;
  return 'cached';
};

const settle = async (): Promise<void> => {
  for (let i = 0; i < 4; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

const check = async (m: Model, r: Real): Promise<void> => {
  await settle();
  for (const receiver of RECEIVERS) expect(r.received[receiver]).toEqual(m.expected[receiver]);
};

type Cmd = fc.AsyncCommand<Model, Real>;

/** A main sender sends `count` messages to a receiver, with or without offline messaging. */
class Send implements Cmd {
  constructor(
    readonly from: Sender,
    readonly to: Receiver,
    readonly count: number,
    readonly offline: boolean,
  ) {}
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    await send(m, r, this.from, this.to, this.count, this.offline);
  }
  toString = (): string => `send(${this.from}→${this.to} ×${this.count}${this.offline ? ', offline' : ''})`;
}

/** A main sender sends offline messages to an offline receiver until it is refused: its room is all taken. */
class SendUntilFull implements Cmd {
  constructor(
    readonly from: Sender,
    readonly prefer: Receiver,
  ) {}
  check = (m: Readonly<Model>): boolean => RECEIVERS.some((receiver) => !m.online.has(receiver));
  async run(m: Model, r: Real): Promise<void> {
    const to = m.online.has(this.prefer) ? (RECEIVERS.find((receiver) => !m.online.has(receiver)) as Receiver) : this.prefer;
    await send(m, r, this.from, to, PER_SENDER - liveOf(m, this.from) + 1, true);
  }
  toString = (): string => `sendUntilFull(${this.from}→${this.prefer} or the other)`;
}

/** `count` sends from a main sender, each answer and delivery checked against the model. */
const send = async (m: Model, r: Real, from: Sender, to: Receiver, count: number, offline: boolean): Promise<void> => {
  for (let i = 0; i < count; i++) {
    const text = `${from}#${m.serial++}`;
    const outcome = await r.senders[from].sendMessageToPeer(to, textMessage(text), { enableOfflineMessaging: offline }).then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    const refusal = outcome.ok ? undefined : outcome.error instanceof FerryError ? [outcome.error.code, outcome.error.failure._tag] : outcome.error;
    if (m.online.has(to)) {
      expect(outcome.ok && outcome.value.state).toBe('RECEIVED');
      if (!outcome.ok) return;
      m.expected[to].push({ peerId: from, text, serverReceivedTs: m.now, messageId: outcome.value.messageId, isOfflineMessage: false });
    } else if (!offline) {
      expect(refusal).toEqual([3, 'PeerUnreachable']);
    } else if (keepInModel(m, from, to) === 'full') {
      expect(refusal).toEqual([5, 'LimitExceeded']);
      m.waiting.set(from, new Set());
    } else {
      expect(outcome.ok && outcome.value.state).toBe('CACHED_BY_SERVER');
      if (!outcome.ok) return;
      for (const why of m.waiting.get(from) ?? []) freedBy[why]++;
      m.waiting.delete(from);
      m.inbox[to].push({ from, text, messageId: outcome.value.messageId, sentAt: m.now });
    }
  }
  await check(m, r);
};

/**
 * The crowd fills an offline receiver's kept messages to the 200 (to 199 for `extra` −1), then sends
 * `extra` more, each replacing the oldest; crowd senders take turns, each while it has room under its
 * own limit (a replaced message of theirs gives it back).
 */
class Flood implements Cmd {
  constructor(
    readonly to: Receiver,
    readonly extra: number,
  ) {}
  check = (m: Readonly<Model>): boolean => !m.online.has(this.to);
  async run(m: Model, r: Real): Promise<void> {
    const count = (): number => m.inbox[this.to].filter((kept) => alive(m, kept)).length;
    let extra = this.extra < 0 ? 0 : this.extra;
    const fill = this.extra < 0 ? RING - 1 : RING;
    let idle = 0;
    for (let turn = 0; idle < CROWD.length && turn < 4 * (RING + this.extra + CROWD.length); turn++) {
      const full = count() >= fill;
      if (full && extra === 0) break;
      const member = CROWD[turn % CROWD.length] as string;
      if (liveOf(m, member) >= PER_SENDER) {
        idle++;
        continue;
      }
      idle = 0;
      if (full) extra--;
      const text = `${member}#${m.serial++}`;
      const session = r.crowd.get(member) as HubSession;
      const answer = await r.hub.sendToPeer(session, this.to, encodeMessage(textMessage(text)), { enableOfflineMessaging: true });
      expect(keepInModel(m, member, this.to)).toBe('cached');
      expect(E.isRight(answer) && answer.right.state).toBe('CACHED_BY_SERVER');
      if (E.isLeft(answer)) return;
      m.inbox[this.to].push({ from: member, text, messageId: answer.right.messageId, sentAt: m.now });
    }
    await check(m, r);
  }
  toString = (): string => `flood(${this.to}, ${this.extra < 0 ? 'to 199' : `200 + ${this.extra}`})`;
}

/** Virtual time passes: kept messages older than the TTL expire (and free their senders' room). */
class Advance implements Cmd {
  constructor(readonly ms: number) {}
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    const before = m.now;
    m.now += this.ms;
    for (const receiver of RECEIVERS) {
      for (const kept of m.inbox[receiver]) if (kept.sentAt + TTL_MS > before && !alive(m, kept)) released(m, kept, 'expiry');
    }
    r.clock.advance(this.ms);
    await check(m, r);
  }
  toString = (): string => `advance(${this.ms} ms)`;
}

/** An offline receiver logs in: it gets exactly the surviving kept messages, in order, as offline ones. */
class Login implements Cmd {
  constructor(readonly who: Receiver) {}
  check = (m: Readonly<Model>): boolean => !m.online.has(this.who);
  async run(m: Model, r: Real): Promise<void> {
    await r.receivers[this.who].login({ userId: this.who, token: r.hub.issueToken(this.who) });
    for (const kept of m.inbox[this.who]) {
      if (!alive(m, kept)) continue;
      released(m, kept, 'delivery');
      const { from: peerId, text, messageId, sentAt: serverReceivedTs } = kept;
      m.expected[this.who].push({ peerId, text, serverReceivedTs, messageId, isOfflineMessage: true });
    }
    m.inbox[this.who] = [];
    m.online.add(this.who);
    await check(m, r);
  }
  toString = (): string => `login(${this.who})`;
}

class Logout implements Cmd {
  constructor(readonly who: Receiver) {}
  check = (m: Readonly<Model>): boolean => m.online.has(this.who);
  async run(m: Model, r: Real): Promise<void> {
    await r.receivers[this.who].logout();
    m.online.delete(this.who);
    await check(m, r);
  }
  toString = (): string => `logout(${this.who})`;
}

const receiverArb = fc.constantFrom(...RECEIVERS);
const senderArb = fc.constantFrom(...SENDERS);
const sendOne = fc.tuple(senderArb, receiverArb).map(([from, to]) => new Send(from, to, 1, true));
const untilFull = fc.tuple(senderArb, receiverArb).map(([from, prefer]) => new SendUntilFull(from, prefer));
const flood = fc.tuple(receiverArb, fc.constantFrom(-1, 0, 1, PER_SENDER + 1, RING)).map(([to, extra]) => new Flood(to, extra));
// Listed twice: single offline sends, sends that take a sender's whole room (refusals, then room freed)
// and floods of a receiver's 200 are what the ring's rules are about.
const commands = fc.commands(
  [
    fc
      .tuple(senderArb, receiverArb, fc.integer({ min: 1, max: PER_SENDER + 1 }), fc.boolean())
      .map(([from, to, count, offline]) => new Send(from, to, count, offline)),
    sendOne,
    sendOne,
    untilFull,
    untilFull,
    flood,
    flood,
    fc.oneof(fc.integer({ min: 1, max: TTL_MS / 2 }), fc.constant(TTL_MS - 1), fc.constant(TTL_MS)).map((ms) => new Advance(ms)),
    receiverArb.map((who) => new Login(who)),
    receiverArb.map((who) => new Logout(who)),
  ],
  { maxCommands: 40, size: 'max' },
);

const unlimited = { limit: Infinity, windowMs: 1_000 };

const setup = async (): Promise<{ model: Model; real: Real }> => {
  const clock = virtualClock(1_000_000);
  // Rates are not what this property is about: sends and logins are unlimited here (rules cover them).
  const hub = createHub({ clock, retentionMs: TTL_MS, limits: { offlineMessages: PER_SENDER, messageRate: unlimited, loginRate: unlimited } });
  const transport = memoryTransport(hub);
  const client = (): Client => createClient({ transport, clock });
  const senders = { s0: client(), s1: client(), s2: client() };
  for (const name of SENDERS) await senders[name].login({ userId: name, token: hub.issueToken(name) });
  const receivers = { r0: client(), r1: client() };
  const received: Record<Receiver, Seen[]> = { r0: [], r1: [] };
  for (const name of RECEIVERS) {
    receivers[name].peerMessages$.subscribe(({ peerId, message, serverReceivedTs, messageId, isOfflineMessage }: PeerMessageEvent) => {
      received[name].push({ peerId, text: message.messageType === 'TEXT' ? message.text : '?', serverReceivedTs, messageId, isOfflineMessage });
    });
  }
  const crowd = new Map<string, HubSession>();
  for (const member of CROWD) {
    const session = await hub.login(member, hub.issueToken(member));
    if (E.isLeft(session)) throw new Error(`crowd login failed: ${session.left._tag}`);
    crowd.set(member, session.right);
  }
  return {
    model: { now: clock.now(), online: new Set(), inbox: { r0: [], r1: [] }, expected: { r0: [], r1: [] }, waiting: new Map(), serial: 0 },
    real: { clock, hub, senders, receivers, received, crowd },
  };
};

describe('offline messages: the 200-message ring, model-based', () => {
  it('every send answers and every login delivers as the model says; a sender’s room is freed by delivery, replacement and expiry', async () => {
    await fc.assert(
      fc.asyncProperty(commands, async (cmds) => {
        const { model, real } = await setup();
        try {
          await fc.asyncModelRun(() => ({ model, real }), cmds);
        } finally {
          real.hub.close();
        }
      }),
      fcOptions(60),
    );
    // Each way a kept message goes was seen to give a refused sender room again.
    expect(freedBy.delivery).toBeGreaterThan(0);
    expect(freedBy.replacement).toBeGreaterThan(0);
    expect(freedBy.expiry).toBeGreaterThan(0);
  }, 120_000);
});
