const UNITS: [limitSeconds: number, unitSeconds: number, name: string][] = [
  [60, 1, 'second'],
  [3600, 60, 'minute'],
  [86_400, 3600, 'hour'],
  [86_400 * 30, 86_400, 'day'],
  [86_400 * 365, 86_400 * 30, 'month'],
  [Infinity, 86_400 * 365, 'year'],
];

/**
 * A time relative to now in words: "just now", "3 minutes ago", "in 2 hours".
 *
 * @example
 *   relativeTime('2025-01-01T10:00:00Z', Date.parse('2025-01-01T10:05:00Z')) // '5 minutes ago'
 */
export function relativeTime(iso: string, now: number = Date.now()): string {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const seconds = Math.round((at - now) / 1000);
  const size = Math.abs(seconds);
  if (size < 10) return 'just now';
  for (const [limit, unit, name] of UNITS) {
    if (size < limit) {
      const count = Math.floor(size / unit);
      const words = `${count} ${name}${count === 1 ? '' : 's'}`;
      return seconds < 0 ? `${words} ago` : `in ${words}`;
    }
  }
  return iso;
}

/** A time in full, for a title: "2025-01-01 10:00:00 UTC" in the reader's own zone. */
export function exactTime(iso: string): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  return at.toLocaleString(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    timeZoneName: 'short',
  });
}
