import type { Report } from '../protocol/report-api.js';

/**
 * Small words the three renderings of a release report share — durations,
 * times, counts — and the one cleaning every text of a report goes through
 * before it is rendered: a step's output may carry terminal colours or worse,
 * and a report must show it, never obey it.
 *
 * @example
 *   formatDuration(1234); // '1.2 s'
 *   formatDuration(184_000); // '3 min 4 s'
 *   plural(2, 'open action'); // '2 open actions'
 */

/**
 * ANSI/VT escape sequences: CSI (`ESC [ … final`, or the one-byte 0x9b), OSC
 * (`ESC ] … BEL|ST`), DCS/SOS/PM/APC strings up to ST, and two-byte escapes.
 * Removed whole, so that no parameter bytes (`[31m`) are left behind.
 */
const ESCAPE_SEQUENCES =
  // eslint-disable-next-line no-control-regex
  /\x1b\[[0-?]*[ -/]*[@-~]|\x9b[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?|\x1b[PX^_][^\x1b\x9c\n]*(?:\x1b\\|\x9c)?|\x1b[ -/]*[0-~]?/g;

/**
 * What is left to remove: every other control character (C0, DEL, C1) but
 * the line feed and the tab, and the Unicode marks that reorder or hide text
 * (bidirectional overrides and isolates, line and paragraph separators).
 */
const OTHER_CONTROLS =
  // eslint-disable-next-line no-control-regex
  /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/g;

/**
 * A text with escape sequences and control characters removed; line feeds
 * and tabs kept (`\r\n` becomes `\n`). Safe to write to a terminal.
 */
export function cleanText(text: string): string {
  return text.replace(/\r\n/g, '\n').replace(ESCAPE_SEQUENCES, '').replace(OTHER_CONTROLS, '');
}

/** A cleaned text on one line: line feeds and tabs become spaces. */
export function oneLine(text: string): string {
  return cleanText(text).replace(/[\n\t]/g, ' ');
}

function cleanValue(value: unknown): unknown {
  if (typeof value === 'string') return cleanText(value);
  if (Array.isArray(value)) return value.map(cleanValue);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [cleanText(k), cleanValue(v)]));
  return value;
}

/**
 * A copy of the report with every string in it cleaned (`cleanText`): what
 * each renderer works from, so that no text of the report — step output,
 * notes, names — reaches a terminal, a Markdown page or HTML with an escape
 * sequence in it.
 */
export function cleanReport(report: Report): Report {
  return cleanValue(report) as Report;
}

/**
 * A duration as a person says it: `350 ms`, `1.2 s`, `42 s`, `3 min 4 s`,
 * `2 h 5 min`, `3 d 4 h`; `-` when unknown.
 */
export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const two = (big: number, bigUnit: string, small: number, smallUnit: string) =>
    small === 0 ? `${big} ${bigUnit}` : `${big} ${bigUnit} ${small} ${smallUnit}`;
  if (s < 3600) return two(Math.floor(s / 60), 'min', s % 60, 's');
  if (s < 86_400) return two(Math.floor(s / 3600), 'h', Math.floor((s % 3600) / 60), 'min');
  return two(Math.floor(s / 86_400), 'd', Math.floor((s % 86_400) / 3600), 'h');
}

/**
 * A time as `2025-03-04 10:02 UTC` (seconds only when they are not zero):
 * in UTC, so a report reads the same wherever it is opened. A text that is
 * not a time is shown as it is.
 */
export function formatTime(at: string | null): string {
  if (at === null) return '-';
  const date = new Date(at);
  if (Number.isNaN(date.getTime())) return oneLine(at);
  const iso = date.toISOString();
  const seconds = iso.slice(17, 19);
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)}${seconds === '00' ? '' : `:${seconds}`} UTC`;
}

/** `1 host`, `2 hosts`, `0 hosts`; `many` for words whose plural is not `word + s`. */
export function plural(count: number, word: string, many = `${word}s`): string {
  return `${count} ${count === 1 ? word : many}`;
}

/** A commit id shortened as git shows it (12 characters). */
export function shortCommit(commit: string): string {
  return commit.slice(0, 12);
}

/** A size in bytes as `1.2 MB` (powers of 1000, as people read sizes). */
export function formatSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}
