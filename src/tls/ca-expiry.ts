/**
 * How near its end a CA is when the server and `ferry hosts` start warning:
 * replacing it means enrolling every host again, which takes planning.
 */
export const CA_WARN_DAYS = 90;

const DAY_MS = 24 * 3600 * 1000;

/**
 * Whole days left before a CA ends (`expiresAt`: ISO time), 0 once it has;
 * undefined when it is further away than `CA_WARN_DAYS`, so nothing to warn of.
 *
 * @example
 *   caDaysLeftToWarn('2027-01-05T10:00:00.000Z'); // 30 on 2026-12-06
 */
export function caDaysLeftToWarn(expiresAt: string, now = Date.now()): number | undefined {
  const left = Date.parse(expiresAt) - now;
  if (left >= CA_WARN_DAYS * DAY_MS) return undefined;
  return Math.max(0, Math.floor(left / DAY_MS));
}

/** The date part of an ISO time, as the warnings show it. */
export function dayOf(iso: string): string {
  return iso.slice(0, 10);
}
