/**
 * The message router: who is online, who is in which channel, and delivery of messages and presence.
 * Messages travel in wire form (JSON-safe, bytes as base64) so each receiver decodes its own copy and
 * no two sessions ever share a buffer.
 * @module
 */
import { Observable, Subject } from 'rxjs';
import type { WireMessage } from '../protocol/codec.js';

/** What the hub tells a session. */
export type HubEvent =
  | { readonly type: 'peerMessage'; readonly peerId: string; readonly message: WireMessage; readonly serverReceivedTs: number }
  | {
      readonly type: 'channelMessage';
      readonly channelId: string;
      readonly memberId: string;
      readonly message: WireMessage;
      readonly serverReceivedTs: number;
    }
  | { readonly type: 'memberJoined'; readonly channelId: string; readonly userId: string }
  | { readonly type: 'memberLeft'; readonly channelId: string; readonly userId: string }
  /** The hub ended the session; `cause` says why as data (optional on the wire, for older peers). */
  | { readonly type: 'aborted'; readonly reason: string; readonly cause?: HubAbortCause };

/** Why the hub ends a session: the same user logged in elsewhere, or the token expired without renewal. */
export type HubAbortCause = 'REMOTE_LOGIN' | 'TOKEN_EXPIRED' | 'BANNED_BY_SERVER';

/** One logged-in session as the router sees it. */
export interface RoutedSession {
  readonly sessionId: number;
  readonly userId: string;
  readonly events$: Observable<HubEvent>;
}

interface Entry {
  readonly session: RoutedSession;
  readonly events: Subject<HubEvent>;
  readonly channels: Set<string>;
}

/** The router's state and operations; the hub validates before calling these. */
export interface Router {
  /** Registers a session; a previous session of the same user is aborted (and leaves its channels). */
  open(userId: string): RoutedSession;
  /** Removes a session: it leaves its channels and its event stream completes. Idempotent. */
  close(session: RoutedSession): void;
  /** Ends a session with an `aborted` event saying why, then as `close`. Idempotent. */
  abort(session: RoutedSession, cause: HubAbortCause, reason: string): void;
  isOpen(session: RoutedSession): boolean;
  /** `false` when the peer is not online. */
  toPeer(from: RoutedSession, peerId: string, message: WireMessage, now: number): boolean;
  /** `false` when the session is already in the channel. */
  join(session: RoutedSession, channelId: string): boolean;
  /** `false` when the session is not in the channel. */
  leave(session: RoutedSession, channelId: string): boolean;
  /** `false` when the session is not in the channel. */
  /** How many sessions received it, or `false` when the sender is not in the channel. */
  toChannel(from: RoutedSession, channelId: string, message: WireMessage, now: number): number | false;
  /** How many channels a session is in (0 if it is not open). */
  channelCount(session: RoutedSession): number;
  /** Whether a session is in a channel. */
  inChannel(session: RoutedSession, channelId: string): boolean;
  /** Members of a channel, or `undefined` when the session is not in it. */
  members(session: RoutedSession, channelId: string): string[] | undefined;
}

/** Told when a session opens or is removed (kicked, aborted, closed), e.g. to count sessions. */
export interface RouterHooks {
  readonly opened?: () => void;
  readonly closed?: () => void;
}

/** A router for one hub. */
export const createRouter = (hooks: RouterHooks = {}): Router => {
  let nextSessionId = 1;
  const byUser = new Map<string, Entry>();
  const bySession = new Map<number, Entry>();
  const channels = new Map<string, Set<Entry>>();

  const broadcast = (channelId: string, except: Entry, event: HubEvent): void => {
    for (const member of channels.get(channelId) ?? []) if (member !== except) member.events.next(event);
  };
  const leaveChannel = (entry: Entry, channelId: string): void => {
    const members = channels.get(channelId);
    members?.delete(entry);
    if (members?.size === 0) channels.delete(channelId);
    entry.channels.delete(channelId);
    broadcast(channelId, entry, { type: 'memberLeft', channelId, userId: entry.session.userId });
  };
  const remove = (entry: Entry): void => {
    if (bySession.has(entry.session.sessionId)) hooks.closed?.();
    bySession.delete(entry.session.sessionId);
    if (byUser.get(entry.session.userId) === entry) byUser.delete(entry.session.userId);
    for (const channelId of [...entry.channels]) leaveChannel(entry, channelId);
    entry.events.complete();
  };

  return {
    open(userId) {
      const previous = byUser.get(userId);
      if (previous) {
        previous.events.next({ type: 'aborted', reason: 'the same user logged in elsewhere', cause: 'REMOTE_LOGIN' });
        remove(previous);
      }
      const events = new Subject<HubEvent>();
      const session: RoutedSession = { sessionId: nextSessionId++, userId, events$: events.asObservable() };
      const entry: Entry = { session, events, channels: new Set() };
      byUser.set(userId, entry);
      hooks.opened?.();
      bySession.set(session.sessionId, entry);
      return session;
    },
    close(session) {
      const entry = bySession.get(session.sessionId);
      if (entry) remove(entry);
    },
    abort(session, cause, reason) {
      const entry = bySession.get(session.sessionId);
      if (!entry) return;
      entry.events.next({ type: 'aborted', reason, cause });
      remove(entry);
    },
    isOpen: (session) => bySession.has(session.sessionId),
    toPeer(from, peerId, message, now) {
      const peer = byUser.get(peerId);
      if (!peer) return false;
      peer.events.next({ type: 'peerMessage', peerId: from.userId, message, serverReceivedTs: now });
      return true;
    },
    join(session, channelId) {
      const entry = bySession.get(session.sessionId);
      if (!entry || entry.channels.has(channelId)) return false;
      const members = channels.get(channelId) ?? new Set<Entry>();
      channels.set(channelId, members);
      broadcast(channelId, entry, { type: 'memberJoined', channelId, userId: session.userId });
      members.add(entry);
      entry.channels.add(channelId);
      return true;
    },
    leave(session, channelId) {
      const entry = bySession.get(session.sessionId);
      if (!entry?.channels.has(channelId)) return false;
      leaveChannel(entry, channelId);
      return true;
    },
    toChannel(from, channelId, message, now) {
      const entry = bySession.get(from.sessionId);
      if (!entry?.channels.has(channelId)) return false;
      broadcast(channelId, entry, { type: 'channelMessage', channelId, memberId: from.userId, message, serverReceivedTs: now });
      return (channels.get(channelId)?.size ?? 1) - 1;
    },
    channelCount: (session) => bySession.get(session.sessionId)?.channels.size ?? 0,
    inChannel: (session, channelId) => bySession.get(session.sessionId)?.channels.has(channelId) ?? false,
    members(session, channelId) {
      const entry = bySession.get(session.sessionId);
      if (!entry?.channels.has(channelId)) return undefined;
      return [...(channels.get(channelId) ?? [])].map((member) => member.session.userId).sort();
    },
  };
};
