import { describe, expect, it } from 'vitest';
import {
  cleanReport,
  cleanText,
  formatDuration,
  formatTime,
  oneLine,
  plural,
} from './report-text.js';
import { reportFixture } from '../../test/helpers/report-fixture.js';

describe('formatDuration', () => {
  it('says a duration as a person does', () => {
    expect(formatDuration(350)).toBe('350 ms');
    expect(formatDuration(1234)).toBe('1.2 s');
    expect(formatDuration(42_900)).toBe('42 s');
    expect(formatDuration(184_000)).toBe('3 min 4 s');
    expect(formatDuration(180_000)).toBe('3 min');
    expect(formatDuration(7_500_000)).toBe('2 h 5 min');
    expect(formatDuration(273_600_000)).toBe('3 d 4 h');
    expect(formatDuration(null)).toBe('-');
  });
});

describe('formatTime', () => {
  it('writes times in UTC, seconds only when there are some', () => {
    expect(formatTime('2025-03-04T10:02:00.000Z')).toBe('2025-03-04 10:02 UTC');
    expect(formatTime('2025-03-04T12:02:05+02:00')).toBe('2025-03-04 10:02:05 UTC');
    expect(formatTime(null)).toBe('-');
    expect(formatTime('yesterday\x1b[2J')).toBe('yesterday');
  });
});

describe('plural', () => {
  it('counts words', () => {
    expect(plural(1, 'host')).toBe('1 host');
    expect(plural(0, 'host')).toBe('0 hosts');
    expect(plural(2, 'open action')).toBe('2 open actions');
  });
});

describe('cleanText', () => {
  it('removes escape sequences whole and other controls, keeps lines and tabs', () => {
    expect(cleanText('\x1b[31mred\x1b[0m and \x1b[1;38;5;196mbold\x1b[m')).toBe('red and bold');
    expect(cleanText('\x1b]8;;http://evil.example\x07link\x1b]8;;\x07')).toBe('link');
    expect(cleanText('\x1b]0;title\x1b\\after')).toBe('after');
    expect(cleanText('a\x9b31mb')).toBe('ab');
    expect(cleanText('one\r\ntwo\tthree\x07\x00\x7f')).toBe('one\ntwo\tthree');
    expect(cleanText('left\u202eright\u2066')).toBe('leftright');
    expect(oneLine('one\ntwo\tthree')).toBe('one two three');
  });

  it('cleans every string of a report and leaves the rest as it was', () => {
    const report = reportFixture();
    const clean = cleanReport(report);
    expect(JSON.stringify(clean)).not.toMatch(/\\u001b|\\u009b/);
    expect(JSON.stringify(report)).toMatch(/\\u001b\[31m/);
    expect(
      clean.environments[1]!.hosts.find((h) => h.host === 'prod-mq-2')!.installs[0]!.failure!
        .lastLines[0],
    ).toBe('Error: listen EADDRINUSE: address already in use 0.0.0.0:5673');
    expect(clean.summary).toEqual(report.summary);
  });
});
