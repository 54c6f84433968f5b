/**
 * How the CLI prints sizes, rates, durations and messages for people (`--json` prints wire JSON instead).
 * @module
 */
import { encodeMessage } from '../protocol/codec.js';
import type { Message } from '../core/messages.js';

const UNITS = ['B', 'KiB', 'MiB', 'GiB'] as const;

/** `1536` → `1.5 KiB`; whole bytes below 1 KiB (a rate of `180.11` B/s is `180 B`). */
export const formatBytes = (bytes: number): string => {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${Math.round(bytes)} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
};

/** Seconds as `42s`, `3m05s` or `1h02m`; `?` when not finite. */
export const formatDuration = (seconds: number): string => {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
};

/** A one-line summary of a message: kind, name, size, dimensions, caption, media ID. */
export const describeMessage = (message: Message): string => {
  switch (message.messageType) {
    case 'TEXT':
      return `TEXT ${JSON.stringify(message.text)}`;
    case 'RAW':
      return `RAW ${formatBytes(message.rawMessage.length)}${message.description ? ` ${JSON.stringify(message.description)}` : ''}`;
    case 'FILE':
    case 'IMAGE': {
      const size = message.messageType === 'IMAGE' ? `, ${message.width}×${message.height}` : '';
      const thumbnail = message.thumbnail ? `, thumbnail ${formatBytes(message.thumbnail.length)}` : '';
      const caption = message.description ? ` ${JSON.stringify(message.description)}` : '';
      return `${message.messageType} ${JSON.stringify(message.fileName)} (${formatBytes(message.size)}${size}${thumbnail})${caption} media ${message.mediaId}`;
    }
  }
};

/**
 * When a message reached the server, in local time: `14:02` on the day of `now`, `2026-12-01 14:02` on
 * another day (an offline message may have waited up to a week).
 * @example formatSentAt(Date.parse('2026-12-02T14:02:30'), Date.parse('2026-12-02T18:00:00')) // '14:02'
 */
export const formatSentAt = (serverReceivedTs: number, now: number): string => {
  const at = new Date(serverReceivedTs);
  const two = (n: number): string => String(n).padStart(2, '0');
  const time = `${two(at.getHours())}:${two(at.getMinutes())}`;
  const today = new Date(now);
  const sameDay = at.getFullYear() === today.getFullYear() && at.getMonth() === today.getMonth() && at.getDate() === today.getDate();
  return sameDay ? time : `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())} ${time}`;
};

/** One JSON line for `--json` output: an event name, its fields, and a message as wire JSON (bytes in base64). */
export const jsonLine = (event: string, fields: Record<string, unknown>, message?: Message): string =>
  JSON.stringify({ event, ...fields, ...(message ? { message: encodeMessage(message) } : {}) });
