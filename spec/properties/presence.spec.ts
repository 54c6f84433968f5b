/**
 * Model-based property (fc.commands) of peer presence (issue 15): random logins, logouts, second logins
 * of the same user from another client (REMOTE_LOGIN), `hub.setReachable(session, up)` (what a server
 * calls when a client's link drops and comes back, also on sessions already ended), token expiry on the
 * injected virtual clock, subscribes, unsubscribes and queries. A watcher's `peersOnlineStatus$` must
 * equal the model's transitions exactly: the status at subscribe, then one event per change of a
 * subscribed peer (ONLINE → UNREACHABLE → OFFLINE and every other path), none when the status did not
 * change, none for peers not subscribed; `queryPeersOnlineStatus` answers each peer's status.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import {
  type Client,
  createClient,
  createHub,
  type Hub,
  type HubSession,
  memoryTransport,
  type PeerOnlineState,
  virtualClock,
  type VirtualClock,
} from '../../src/index.js';
import { fcOptions } from './support.js';

const PEERS = ['p0', 'p1', 'p2'] as const;
type Peer = (typeof PEERS)[number];
/** Each peer has two clients (two devices), so a second login of the same user can come from the other. */
type Device = 0 | 1;

interface PeerModel {
  /** The device whose session is open, if any. */
  holder: Device | undefined;
  reachable: boolean;
  /** When the open session's token expires. */
  expiresAt: number;
  /** Login order: sessions whose tokens expire at the same instant end in it. */
  opened: number;
}

interface Model {
  now: number;
  readonly peers: Record<Peer, PeerModel>;
  readonly watched: Set<Peer>;
  readonly expected: Record<string, PeerOnlineState>[];
  logins: number;
}

interface Real {
  readonly clock: VirtualClock;
  readonly hub: Hub;
  readonly watcher: Client;
  readonly devices: Record<Peer, readonly [Client, Client]>;
  /** Every hub session of each peer, oldest first (the memory transport's logins, tapped). */
  readonly sessions: Map<string, HubSession[]>;
  readonly events: Record<string, PeerOnlineState>[];
}

/** Transitions told to the watcher, over every run, by from → to: the interesting ones must occur. */
const told = new Map<string, number>();

const stateOf = (peer: PeerModel): PeerOnlineState => (peer.holder === undefined ? 'OFFLINE' : peer.reachable ? 'ONLINE' : 'UNREACHABLE');

/** Applies `change` to a peer and expects an event for a watched peer whose status it changed. */
const change = (m: Model, name: Peer, apply: (peer: PeerModel) => void): void => {
  const peer = m.peers[name];
  const before = stateOf(peer);
  apply(peer);
  const after = stateOf(peer);
  if (before === after || !m.watched.has(name)) return;
  m.expected.push({ [name]: after });
  told.set(`${before} → ${after}`, (told.get(`${before} → ${after}`) ?? 0) + 1);
};

const settle = async (): Promise<void> => {
  for (let i = 0; i < 4; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

const check = async (m: Model, r: Real): Promise<void> => {
  await settle();
  expect(r.events).toEqual(m.expected);
};

type Cmd = fc.AsyncCommand<Model, Real>;

/** A device logs in: the peer is ONLINE; if its other device held the session, that one is replaced. */
class Login implements Cmd {
  constructor(
    readonly peer: Peer,
    readonly device: Device,
    readonly ttlMs: number,
  ) {}
  check = (m: Readonly<Model>): boolean => m.peers[this.peer].holder !== this.device;
  async run(m: Model, r: Real): Promise<void> {
    await r.devices[this.peer][this.device].login({ userId: this.peer, token: r.hub.issueToken(this.peer, this.ttlMs) });
    change(m, this.peer, (peer) => {
      peer.holder = this.device;
      peer.reachable = true;
      peer.expiresAt = m.now + this.ttlMs;
      peer.opened = m.logins++;
    });
    await check(m, r);
  }
  toString = (): string => `login(${this.peer} on device ${this.device}, token ${this.ttlMs} ms)`;
}

class Logout implements Cmd {
  constructor(readonly peer: Peer) {}
  check = (m: Readonly<Model>): boolean => m.peers[this.peer].holder !== undefined;
  async run(m: Model, r: Real): Promise<void> {
    await r.devices[this.peer][m.peers[this.peer].holder as Device].logout();
    change(m, this.peer, (peer) => {
      peer.holder = undefined;
    });
    await check(m, r);
  }
  toString = (): string => `logout(${this.peer})`;
}

/** The server says a session's link is down or up again: the peer's latest session, or an older (ended) one. */
class SetReachable implements Cmd {
  constructor(
    readonly peer: Peer,
    readonly reachable: boolean,
    readonly older: boolean,
  ) {}
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    const sessions = r.sessions.get(this.peer) ?? [];
    const session = sessions.at(this.older ? -2 : -1);
    if (session === undefined) return;
    r.hub.setReachable(session, this.reachable);
    // Only the open session counts: the latest one, while its peer is logged in.
    if (!this.older) {
      change(m, this.peer, (peer) => {
        if (peer.holder !== undefined) peer.reachable = this.reachable;
      });
    }
    await check(m, r);
  }
  toString = (): string => `setReachable(${this.older ? 'an older session' : 'the latest session'} of ${this.peer}, ${this.reachable})`;
}

/** Virtual time passes: sessions whose tokens expire end (OFFLINE), in the order their tokens expire. */
class Advance implements Cmd {
  constructor(readonly ms: number) {}
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    m.now += this.ms;
    const expiring = PEERS.filter((name) => m.peers[name].holder !== undefined && m.peers[name].expiresAt <= m.now).sort(
      (a, b) => m.peers[a].expiresAt - m.peers[b].expiresAt || m.peers[a].opened - m.peers[b].opened,
    );
    for (const name of expiring) {
      change(m, name, (peer) => {
        peer.holder = undefined;
      });
    }
    r.clock.advance(this.ms);
    await check(m, r);
  }
  toString = (): string => `advance(${this.ms} ms)`;
}

class Subscribe implements Cmd {
  constructor(readonly peers: readonly Peer[]) {}
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    await r.watcher.subscribePeersOnlineStatus(this.peers);
    for (const name of new Set(this.peers)) {
      m.watched.add(name);
      m.expected.push({ [name]: stateOf(m.peers[name]) });
    }
    await check(m, r);
  }
  toString = (): string => `subscribe(${this.peers.join(', ')})`;
}

class Unsubscribe implements Cmd {
  constructor(readonly peers: readonly Peer[]) {}
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    await r.watcher.unsubscribePeersOnlineStatus(this.peers);
    for (const name of this.peers) m.watched.delete(name);
    await check(m, r);
  }
  toString = (): string => `unsubscribe(${this.peers.join(', ')})`;
}

/** Asks about every peer, the watcher itself and a user who never logged in. */
class Query implements Cmd {
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    const answer = await r.watcher.queryPeersOnlineStatus([...PEERS, 'watcher', 'nobody']);
    expect(answer).toEqual({ ...Object.fromEntries(PEERS.map((name) => [name, stateOf(m.peers[name])])), watcher: 'ONLINE', nobody: 'OFFLINE' });
    await check(m, r);
  }
  toString = (): string => 'query(all)';
}

const peerArb = fc.constantFrom(...PEERS);
const peersArb = fc.array(peerArb, { minLength: 1, maxLength: 4 });
const commands = fc.commands(
  [
    fc.tuple(peerArb, fc.constantFrom<Device>(0, 1), fc.integer({ min: 1_000, max: 120_000 })).map(([peer, device, ttl]) => new Login(peer, device, ttl)),
    peerArb.map((peer) => new Logout(peer)),
    fc.tuple(peerArb, fc.boolean(), fc.boolean()).map(([peer, reachable, older]) => new SetReachable(peer, reachable, older)),
    fc.tuple(peerArb, fc.boolean()).map(([peer, reachable]) => new SetReachable(peer, reachable, false)),
    fc.integer({ min: 1, max: 60_000 }).map((ms) => new Advance(ms)),
    peersArb.map((peers) => new Subscribe(peers)),
    peersArb.map((peers) => new Unsubscribe(peers)),
    fc.constant(new Query()),
  ],
  { maxCommands: 40, size: 'max' },
);

const unlimited = { limit: Infinity, windowMs: 1_000 };

const setup = async (): Promise<{ model: Model; real: Real }> => {
  const clock = virtualClock(1_000_000);
  // The rates are the rule specs' (spec/rules/presence.spec.ts); here any sequence may run.
  const hub = createHub({ clock, limits: { loginRate: unlimited, presenceQueryRate: unlimited, presenceSubscribeRate: unlimited } });
  const sessions = new Map<string, HubSession[]>();
  const tapped: Hub = {
    ...hub,
    async login(userId, token) {
      const opened = await hub.login(userId, token);
      if (E.isRight(opened)) sessions.set(opened.right.userId, [...(sessions.get(opened.right.userId) ?? []), opened.right]);
      return opened;
    },
  };
  const transport = memoryTransport(tapped);
  const client = (): Client => createClient({ transport, clock });
  const watcher = client();
  await watcher.login({ userId: 'watcher', token: hub.issueToken('watcher', 30 * 24 * 3600_000) });
  const events: Record<string, PeerOnlineState>[] = [];
  watcher.peersOnlineStatus$.subscribe((event) => events.push(event));
  const devices = { p0: [client(), client()], p1: [client(), client()], p2: [client(), client()] } as const;
  const offline = (): PeerModel => ({ holder: undefined, reachable: true, expiresAt: 0, opened: 0 });
  return {
    model: { now: clock.now(), peers: { p0: offline(), p1: offline(), p2: offline() }, watched: new Set(), expected: [], logins: 0 },
    real: { clock, hub, watcher, devices, sessions, events },
  };
};

describe('presence: a watcher hears exactly the model’s transitions', () => {
  it('status at subscribe, then each change of a subscribed peer, on logins, logouts, remote logins, links and token expiry', async () => {
    await fc.assert(
      fc.asyncProperty(commands, async (cmds) => {
        const { model, real } = await setup();
        try {
          await fc.asyncModelRun(() => ({ model, real }), cmds);
        } finally {
          real.hub.close();
        }
      }),
      fcOptions(80),
    );
    for (const transition of ['ONLINE → UNREACHABLE', 'UNREACHABLE → OFFLINE', 'UNREACHABLE → ONLINE', 'ONLINE → OFFLINE', 'OFFLINE → ONLINE']) {
      expect({ transition, told: told.get(transition) ?? 0 }).not.toEqual({ transition, told: 0 });
    }
  }, 120_000);
});
