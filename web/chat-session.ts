/**
 * The signed-in user's side of the demo page: its client, its conversations (a row in the list and a
 * thread each), which one is open, and what the page shows of them (the view). The incoming and outgoing
 * halves (`incoming.ts`, `outgoing.ts`) and the page's wiring (`page.ts`) share these.
 * @module
 */
import type { Subscription } from 'rxjs';
import { type Channel, type Client, FerryError } from '../src/index.js';
import type { Composer } from './composer.js';
import { type ConversationKind, type ConversationRow, type PresenceShown, presenceWord, showConversation } from './conversations.js';
import type { Lightbox } from './lightbox.js';

/** The parts of the page a session shows itself in. */
export interface ChatView {
  /** The list of conversations. */
  readonly list: HTMLUListElement;
  /** Where the threads are, one shown at a time. */
  readonly threads: HTMLElement;
  /** The open conversation's name, and a peer's online status in words under it. */
  readonly title: HTMLElement;
  readonly titlePresence: HTMLElement;
  /** `main`, whose `data-view` (`list` or `thread`) decides what a phone shows. */
  readonly chat: HTMLElement;
  readonly composer: Composer;
  readonly lightbox: Lightbox;
  /** Says a failure that belongs to no bubble, after `what` (`Online status not known: …`). */
  readonly tell: (error: unknown, what: string) => void;
}

/** One conversation: its row in the list, its thread, and the channel when it is one. */
export interface Conversation {
  readonly kind: ConversationKind;
  readonly id: string;
  readonly row: ConversationRow;
  readonly thread: HTMLOListElement;
  readonly channel?: Channel;
  unread: number;
  presence: PresenceShown;
}

/** The signed-in user: one client, its subscriptions, its conversations and the page's `blob:` URLs. */
export interface Signed {
  readonly userId: string;
  readonly client: Client;
  readonly view: ChatView;
  readonly subscriptions: Subscription[];
  /** Every `blob:` URL made for this session, revoked at its end. */
  readonly urls: string[];
  readonly conversations: Map<string, Conversation>;
  /** Full-size images opened, by media ID. */
  readonly pictures: Map<string, string>;
  /** Peers met this turn, not yet subscribed to. */
  readonly unsubscribed: string[];
  current?: Conversation | undefined;
  /** From the sign-in until the session ends (sign-out, or another tab took it). */
  live: boolean;
}

/**
 * The conversation with `kind:id`, made (and listed) the first time; a channel's messages are the
 * caller's to subscribe to. A peer's online status is
 * subscribed to: the peers met in one turn in one call (the offline messages of a sign-in come together,
 * and more than 10 subscribe calls in 5 s are refused).
 */
export const conversationOf = (me: Signed, kind: ConversationKind, id: string, channel?: Channel): Conversation => {
  const key = `${kind}:${id}`;
  const known = me.conversations.get(key);
  if (known) return known;
  const thread = document.createElement('ol');
  thread.className = 'thread';
  thread.dataset['conversation'] = key;
  thread.setAttribute('aria-label', kind === 'channel' ? `Messages in #${id}` : `Messages with ${id}`);
  thread.setAttribute('aria-live', 'polite');
  thread.hidden = true;
  me.view.threads.append(thread);
  const conversation: Conversation = {
    kind,
    id,
    thread,
    unread: 0,
    presence: 'UNKNOWN',
    row: showConversation(me.view.list, kind, id, () => select(me, conversation)),
    ...(channel ? { channel } : {}),
  };
  me.conversations.set(key, conversation);
  if (kind === 'peer' && me.unsubscribed.push(id) === 1) {
    queueMicrotask(() => {
      const peerIds = me.unsubscribed.splice(0);
      me.client.subscribePeersOnlineStatus(peerIds).catch((error: unknown) => {
        // 102: signed out meanwhile, and the list is gone with the session.
        if (!(error instanceof FerryError && error.code === 102)) me.view.tell(error, 'Online status not known');
      });
    });
  }
  return conversation;
};

/** Shows `conversation`'s thread and marks what waited there as read. */
export const select = (me: Signed, conversation: Conversation): void => {
  me.current?.row.setCurrent(false);
  if (me.current) me.current.thread.hidden = true;
  me.current = conversation;
  const { threads, title, titlePresence, chat, composer } = me.view;
  threads.querySelector('.empty')?.remove();
  conversation.thread.hidden = false;
  conversation.row.setCurrent(true);
  conversation.unread = 0;
  conversation.row.setUnread(0);
  title.textContent = conversation.kind === 'channel' ? `#${conversation.id}` : conversation.id;
  titlePresence.textContent = conversation.kind === 'channel' ? 'channel' : presenceWord(conversation.presence);
  chat.dataset['view'] = 'thread';
  composer.enable(me.live);
  conversation.thread.lastElementChild?.scrollIntoView({ block: 'end' });
  composer.focus();
  updateTitle(me);
};

/** `(2) ferry chat` while messages wait unread. */
export const updateTitle = (me: Signed): void => {
  const unread = [...me.conversations.values()].reduce((sum, { unread: count }) => sum + count, 0);
  document.title = unread > 0 ? `(${unread}) ferry chat` : 'ferry chat';
};

/** Shows a peer's online status on its row, and under the title when its conversation is open. */
export const showPresence = (me: Signed, peerId: string, state: PresenceShown): void => {
  const conversation = me.conversations.get(`peer:${peerId}`);
  if (!conversation) return;
  conversation.presence = state;
  conversation.row.setPresence(state);
  if (me.current === conversation) me.view.titlePresence.textContent = presenceWord(state);
};
