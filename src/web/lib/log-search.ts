import type { AnsiLine } from './ansi.js';

/**
 * Search in a step's output: where a text occurs (case-insensitive, in what a
 * person reads: escapes already removed), and a line's runs cut at those
 * places so the matches can be marked. Pure, so the log pane stays a view.
 *
 * @example
 *   const { matches } = findMatches(['npm ERR! code E404', 'ok'], 'err');
 *   // [{ line: 0, start: 4, end: 7 }]
 */

/** One occurrence: a line's index and the characters it covers. */
export interface LogMatch {
  readonly line: number;
  readonly start: number;
  readonly end: number;
}

/** More than this many matches are not all marked: "10000+" says there are more. */
export const MAX_MATCHES = 10_000;

/** Every occurrence of `query` in the lines, in order, up to `limit`; `capped` when there were more. */
export function findMatches(
  lines: readonly string[],
  query: string,
  limit = MAX_MATCHES,
): { matches: LogMatch[]; capped: boolean } {
  const matches: LogMatch[] = [];
  if (query === '') return { matches, capped: false };
  // A regular expression finds case-insensitively without lowercasing the line,
  // which could change its length (İ) and put the marks in the wrong place.
  const pattern = new RegExp(query.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi');
  for (let line = 0; line < lines.length; line++) {
    const text = lines[line]!;
    pattern.lastIndex = 0;
    let found: RegExpExecArray | null;
    while ((found = pattern.exec(text)) !== null) {
      if (matches.length === limit) return { matches, capped: true };
      matches.push({ line, start: found.index, end: found.index + found[0].length });
    }
  }
  return { matches, capped: false };
}

/** A piece of a line as shown: its text, its style's classes, and whether it is (the current) match. */
export interface LogSegment {
  readonly text: string;
  readonly classes: readonly string[];
  readonly mark: 'match' | 'current' | null;
}

/**
 * Cuts a line's runs where its matches begin and end. `ranges` are the line's
 * matches in order, not overlapping; `current` is the one the pane is at, if
 * it is on this line.
 */
export function markRuns(
  runs: AnsiLine,
  ranges: readonly LogMatch[],
  current: LogMatch | null,
): LogSegment[] {
  const segments: LogSegment[] = [];
  let rangeIndex = 0;
  let offset = 0;
  for (const run of runs) {
    const runEnd = offset + run.text.length;
    let at = offset;
    while (at < runEnd) {
      while (rangeIndex < ranges.length && ranges[rangeIndex]!.end <= at) rangeIndex++;
      const range = ranges[rangeIndex];
      let end: number;
      let mark: LogSegment['mark'] = null;
      if (range === undefined || range.start >= runEnd) {
        end = runEnd;
      } else if (range.start > at) {
        end = range.start;
      } else {
        end = Math.min(range.end, runEnd);
        mark = range === current ? 'current' : 'match';
      }
      segments.push({
        text: run.text.slice(at - offset, end - offset),
        classes: run.classes,
        mark,
      });
      at = end;
    }
    offset = runEnd;
  }
  return segments;
}
