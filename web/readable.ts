/**
 * How the demo page writes sizes and times: `1.5 MiB`, `14:02`, `3 Dec, 14:02`.
 * @module
 */

/** `1.5 MiB`, `320 B`. */
export const formatSize = (bytes: number): string => {
  const units = ['B', 'KiB', 'MiB', 'GiB'] as const;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
};

/** `14:02` in the browser's time zone, with the day when it is not today. */
export const formatTime = (ms: number): string => {
  const at = new Date(ms);
  const sameDay = at.toDateString() === new Date().toDateString();
  return at.toLocaleString(undefined, sameDay ? { hour: '2-digit', minute: '2-digit' } : { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
};

/** The same instant as a machine-readable `datetime` attribute. */
export const isoTime = (ms: number): string => new Date(ms).toISOString();
