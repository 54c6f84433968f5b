/**
 * The list of conversations: one row per peer or channel, in the order of their latest message. A peer's
 * row has a dot for its online status, every row the latest message's preview and time, and an unread
 * count while a message waits in a conversation that is not open. DOM only, no engine logic.
 * @module
 */
import type { PeerOnlineState } from '../src/index.js';
import { formatTime, isoTime } from './readable.js';

/** A conversation: with a peer, or in a channel. Its key is `peer:<id>` or `channel:<id>`. */
export type ConversationKind = 'peer' | 'channel';

/** What a peer's dot shows: its online status, or `UNKNOWN` until the server has told it. */
export type PresenceShown = PeerOnlineState | 'UNKNOWN';

/** The title (and accessible name) of a peer's dot. */
export const presenceTitle = (peerId: string, state: PresenceShown): string => {
  switch (state) {
    case 'ONLINE':
      return `${peerId} is online`;
    case 'UNREACHABLE':
      return `${peerId} is unreachable: their connection dropped; messages reach them when it is back`;
    case 'OFFLINE':
      return `${peerId} is offline: files sent now are kept for their next sign-in`;
    case 'UNKNOWN':
      return `${peerId}: online status not known yet`;
  }
};

/** The short word under a conversation's name in the thread's header. */
export const presenceWord = (state: PresenceShown): string =>
  ({ ONLINE: 'online', UNREACHABLE: 'connection dropped', OFFLINE: 'offline: messages are kept for them', UNKNOWN: '' })[state];

const element = <K extends keyof HTMLElementTagNameMap>(tag: K, className: string, ...children: (Node | string)[]): HTMLElementTagNameMap[K] => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children);
  return node;
};

/** One row of the list, and what the page changes on it. */
export interface ConversationRow {
  readonly kind: ConversationKind;
  readonly id: string;
  readonly row: HTMLLIElement;
  /** Marks the row as the open conversation (`aria-current`), or not. */
  setCurrent(current: boolean): void;
  /** Shows a peer's online status on its dot (a channel has none). */
  setPresence(state: PresenceShown): void;
  /** The latest message's preview and time; moves the row to the top. */
  setLatest(preview: string, at: number): void;
  /** The count of messages not seen yet; 0 hides it. */
  setUnread(count: number): void;
}

/**
 * Adds a conversation to `list` (at the top): an avatar with the initial (a `#` for a channel) and, for
 * a peer, a presence dot; the name; a line for the latest message; an unread badge. The whole row is one
 * button that calls `onOpen`.
 */
export const showConversation = (list: HTMLElement, kind: ConversationKind, id: string, onOpen: () => void): ConversationRow => {
  const name = kind === 'channel' ? `#${id}` : id;
  const avatar = element('span', 'avatar', kind === 'channel' ? '#' : (id[0] ?? '?').toUpperCase());
  avatar.setAttribute('aria-hidden', 'true');
  const dot = element('span', 'presence');
  const preview = element('span', 'preview', kind === 'channel' ? 'channel' : '');
  const time = element('time', 'when');
  const unread = element('span', 'unread');
  unread.hidden = true;
  const open = element('button', 'open', avatar, element('span', 'name', name), preview, time, unread);
  open.type = 'button';
  open.addEventListener('click', onOpen);
  const row = element('li', '', open);
  row.dataset['conversation'] = `${kind}:${id}`;
  if (kind === 'peer') {
    row.dataset['peer'] = id;
    dot.setAttribute('role', 'img');
    row.append(dot);
  }
  list.prepend(row);

  const label = (count: number): void => {
    const state = row.dataset['presence'];
    const presence = kind === 'peer' && state ? `, ${presenceTitle(id, state as PresenceShown)}` : '';
    open.setAttribute('aria-label', `Open ${kind === 'channel' ? 'channel' : 'the conversation with'} ${name}${presence}${count > 0 ? `, ${count} unread` : ''}`);
  };
  let unreadCount = 0;
  const shown: ConversationRow = {
    kind,
    id,
    row,
    setCurrent(current) {
      if (current) open.setAttribute('aria-current', 'true');
      else open.removeAttribute('aria-current');
    },
    setPresence(state) {
      if (kind !== 'peer') return;
      row.dataset['presence'] = state;
      const title = presenceTitle(id, state);
      dot.title = title;
      dot.setAttribute('aria-label', title);
      label(unreadCount);
    },
    setLatest(text, at) {
      preview.textContent = text;
      time.textContent = formatTime(at);
      time.dateTime = isoTime(at);
      if (list.firstElementChild !== row) list.prepend(row);
    },
    setUnread(count) {
      unreadCount = count;
      unread.hidden = count === 0;
      unread.textContent = count > 99 ? '99+' : String(count);
      row.dataset['unread'] = String(count);
      label(count);
    },
  };
  shown.setPresence('UNKNOWN');
  shown.setUnread(0);
  return shown;
};
