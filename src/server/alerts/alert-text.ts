/**
 * What alerts say, in words a person reads on a phone at night: which
 * release on which host, since when, and how long after it went out.
 */

/** The longest probe answer quoted in a message; the rest is cut (`…`). */
const ANSWER_CHARS = 300;

/**
 * A span of time in words, rounded down to its largest unit: `40 seconds`,
 * `1 minute`, `2 hours`, `3 days`.
 *
 * @example
 *   spanText(150_000); // '2 minutes'
 */
export function spanText(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const [count, unit] =
    seconds < 60
      ? [seconds, 'second']
      : seconds < 3600
        ? [Math.floor(seconds / 60), 'minute']
        : seconds < 86_400
          ? [Math.floor(seconds / 3600), 'hour']
          : [Math.floor(seconds / 86_400), 'day'];
  return `${count} ${unit}${count === 1 ? '' : 's'}`;
}

/**
 * A time of day in UTC, with the date when it is not today's (by `now`):
 * `14:02 UTC`, `2026-12-01 14:02 UTC`.
 */
export function clockText(iso: string, now: Date): string {
  const day = iso.slice(0, 10);
  const time = `${iso.slice(11, 16)} UTC`;
  return day === now.toISOString().slice(0, 10) ? time : `${day} ${time}`;
}

/** Bytes in words with one decimal: `512 B`, `7.0 GB`, `1.5 TB` (powers of 1024, as `df -h`). */
export function bytesText(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** `cart@12`, or `cart` when the version is not known. */
export function releaseText(app: string, version: number | null): string {
  return version === null ? app : `${app}@${version}`;
}

/** What a service's failing health says, for `service-failing`. */
export interface FailingService {
  app: string;
  version: number | null;
  host: string;
  state: 'failing' | 'stopped';
  /** When it entered that state (the agent's clock). */
  since: string;
  /** The failing probe's answer. */
  answer: string | null;
  /** When its release was installed on the host, and whether by a deployment; null when not known. */
  installed: { at: string; byDeployment: boolean } | null;
}

/**
 * `cart@12 on prod-3 fails its health check since 14:02 UTC, 2 minutes after
 * it was deployed: HTTP 500`.
 */
export function failingText(service: FailingService, now: Date): string {
  const what = service.state === 'failing' ? 'fails its health check' : 'is stopped';
  let text = `${releaseText(service.app, service.version)} on ${service.host} ${what} since ${clockText(service.since, now)}`;
  const installed = service.installed;
  if (installed !== null) {
    const after = Date.parse(service.since) - Date.parse(installed.at);
    if (after >= 0) {
      text += `, ${spanText(after)} after it was ${installed.byDeployment ? 'deployed' : 'installed'}`;
    }
  }
  if (service.answer !== null && service.answer.trim() !== '') {
    const answer = service.answer.trim().replace(/\s+/g, ' ');
    text += `: ${answer.length > ANSWER_CHARS ? `${answer.slice(0, ANSWER_CHARS)}…` : answer}`;
  }
  return text;
}
