/**
 * How the CLI tells when an offline message was sent: the time on the day it is read, the date too on
 * another day. Dates are built in local time, so the spec holds in any time zone.
 */
import { describe, expect, it } from 'vitest';
import { formatSentAt } from '../../src/cli/format.js';

const local = (year: number, month: number, day: number, hours: number, minutes: number, seconds = 0): number =>
  new Date(year, month - 1, day, hours, minutes, seconds).getTime();

describe('formatSentAt', () => {
  it('shows the hour and minute, zero-padded, of a message sent the same day', () => {
    expect(formatSentAt(local(2026, 12, 2, 14, 2, 59), local(2026, 12, 2, 23, 59))).toBe('14:02');
    expect(formatSentAt(local(2026, 12, 2, 0, 5), local(2026, 12, 2, 0, 6))).toBe('00:05');
  });

  it('adds the date when the message was sent on another day, a year boundary included', () => {
    expect(formatSentAt(local(2026, 12, 1, 23, 59), local(2026, 12, 2, 0, 1))).toBe('2026-12-01 23:59');
    expect(formatSentAt(local(2026, 12, 31, 9, 30), local(2027, 1, 6, 9, 30))).toBe('2026-12-31 09:30');
  });
});
