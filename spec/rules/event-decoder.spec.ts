/**
 * The Redis bus's decoder of stream entries (decision 137): within one read, entries with the same fields
 * are one event object; a different entry with the same message ID is decoded on its own; nothing is
 * shared across reads; a malformed entry throws and leaves nothing behind.
 */
import { describe, expect, it } from 'vitest';
import { EventDecoder, eventOf } from '../../src/cluster/redis-bus-entries.js';

/** A channel message entry's flat fields, a new array each time, as each member's stream hands them. */
const channelEntry = (text: string, messageId = `id-${text}`, channel = 'room'): string[] =>
  ['t', 'c', 'c', channel, 'f', 'alice', 'm', JSON.stringify({ messageType: 'TEXT', text }), 's', '1700000000000', 'i', messageId];

describe('the Redis bus event decoder', () => {
  it('hands every member the same event for one message of a read, decoded as eventOf decodes it', () => {
    const decoder = new EventDecoder();
    const first = decoder.decode(channelEntry('hi'));
    expect(first).toEqual(eventOf(channelEntry('hi')));
    expect(decoder.decode(channelEntry('other'))).not.toBe(first);
    expect(decoder.decode(channelEntry('hi'))).toBe(first);
  });

  it('decodes on its own an entry that shares a message ID but not every field', () => {
    const decoder = new EventDecoder();
    const inRoom = decoder.decode(channelEntry('hi', 'same'));
    const elsewhere = decoder.decode(channelEntry('hi', 'same', 'lobby'));
    expect(elsewhere).not.toBe(inRoom);
    expect(elsewhere).toMatchObject({ type: 'channelMessage', channelId: 'lobby' });
    expect(decoder.decode(channelEntry('changed', 'same'))).toMatchObject({ message: { text: 'changed' } });
  });

  it('shares nothing across reads, and keeps nothing of an entry that does not decode', () => {
    const decoder = new EventDecoder();
    const before = decoder.decode(channelEntry('hi'));
    decoder.forget();
    expect(decoder.decode(channelEntry('hi'))).not.toBe(before);
    const broken = channelEntry('x', 'bad').map((value, i) => (i === 7 ? '{not json' : value));
    expect(() => decoder.decode(broken)).toThrow(/not JSON/);
    expect(() => decoder.decode(broken)).toThrow(/not JSON/);
    // Entries without a message ID (joins, presence) are decoded each time.
    const joined = ['t', 'j', 'c', 'room', 'f', 'bob', 'n', '2'];
    expect(decoder.decode([...joined])).toEqual({ type: 'memberJoined', channelId: 'room', userId: 'bob', memberCount: 2 });
  });
});
