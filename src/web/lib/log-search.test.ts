import { describe, expect, it } from 'vitest';
import { parseAnsiLines } from './ansi.js';
import { findMatches, markRuns } from './log-search.js';

describe('findMatches', () => {
  it('finds every occurrence, case-insensitively, line by line', () => {
    const { matches, capped } = findMatches(['npm ERR! code', 'ok', 'err err'], 'err');
    expect(capped).toBe(false);
    expect(matches).toEqual([
      { line: 0, start: 4, end: 7 },
      { line: 2, start: 0, end: 3 },
      { line: 2, start: 4, end: 7 },
    ]);
  });

  it('takes the query as text, not as a pattern', () => {
    expect(findMatches(['a.b axb (x)'], '.').matches).toEqual([{ line: 0, start: 1, end: 2 }]);
    expect(findMatches(['a.b axb (x)'], '(x)').matches).toEqual([{ line: 0, start: 8, end: 11 }]);
    expect(findMatches(['anything'], '').matches).toEqual([]);
  });

  it('keeps offsets in the line as it is, when lowercasing would change its length', () => {
    expect(findMatches(['İstanbul error'], 'error').matches).toEqual([
      { line: 0, start: 9, end: 14 },
    ]);
  });

  it('stops at the limit and says so', () => {
    const { matches, capped } = findMatches(['aaaa', 'aaaa'], 'a', 5);
    expect(matches).toHaveLength(5);
    expect(capped).toBe(true);
  });
});

describe('markRuns', () => {
  const ESC = '\x1b';

  it('cuts runs at the matches, across a change of colour, and marks the current one', () => {
    const [line] = parseAnsiLines(`npm ${ESC}[31mERR!${ESC}[0m code ERR`);
    const { matches } = findMatches(['npm ERR! code ERR'], 'm err');
    expect(matches).toEqual([{ line: 0, start: 2, end: 7 }]);
    expect(markRuns(line!, matches, matches[0]!)).toEqual([
      { text: 'np', classes: [], mark: null },
      { text: 'm ', classes: [], mark: 'current' },
      { text: 'ERR', classes: ['ansi-fg-red'], mark: 'current' },
      { text: '!', classes: ['ansi-fg-red'], mark: null },
      { text: ' code ERR', classes: [], mark: null },
    ]);
  });

  it('marks several matches in one run, the others as plain matches', () => {
    const [line] = parseAnsiLines('err ok err');
    const { matches } = findMatches(['err ok err'], 'err');
    expect(markRuns(line!, matches, matches[1]!).map((s) => [s.text, s.mark])).toEqual([
      ['err', 'match'],
      [' ok ', null],
      ['err', 'current'],
    ]);
    expect(markRuns(line!, [], null)).toEqual([{ text: 'err ok err', classes: [], mark: null }]);
  });
});
