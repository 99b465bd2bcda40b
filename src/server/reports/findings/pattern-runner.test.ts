import { describe, expect, it } from 'vitest';
import { MANIFEST_LINE_MAX, PatternRunner } from './pattern-runner.js';

describe('PatternRunner', () => {
  it('tests each line alone, cut to MANIFEST_LINE_MAX, and skips blank lines', () => {
    const runner = new PatternRunner();
    const lines = ['SLOW QUERY 2s', '', 'fine', `${'x'.repeat(MANIFEST_LINE_MAX)}SLOW QUERY`];
    expect(runner.matchingLines('p', /SLOW QUERY|^$/g, lines)).toEqual([0]);
    expect(runner.stopped('p')).toBe(false);
  });

  it('stops a pattern that runs past its time, keeps its matches, and does not run it again', () => {
    const runner = new PatternRunner({ budgetMs: 100, msPerMiB: 0 });
    const backtracks = /^(\w+\s?)+:/;
    const lines = ['ERROR: boom', `${'word '.repeat(400)}!`, 'WARN: later'];
    expect(runner.matchingLines('slow', backtracks, lines)).toEqual([0]);
    expect(runner.stopOf('slow')).toBe('timeouts');
    expect(runner.matchingLines('slow', backtracks, ['ERROR: again'])).toEqual([]);
    // Another pattern has its own budget.
    expect(runner.matchingLines('other', /^WARN/, lines)).toEqual([2]);
    expect(runner.stopped('other')).toBe(false);
  }, 5_000);

  it('spends one time over the report: a pattern just under its time on every call is stopped, and so is every other', () => {
    // A fake clock, 40 ms further each time it is read: a run takes 40 ms by it, under
    // the 50 ms a call is given, and the report's 1000 ms are spent after some 25 runs.
    let clock = 0;
    const runner = new PatternRunner({
      budgetMs: 50,
      msPerMiB: 0,
      reportMs: 1000,
      now: () => (clock += 40),
    });
    const answers = Array.from({ length: 40 }, () =>
      runner.matchingLines('slowish', /^SLOW/, ['SLOW QUERY 2s']),
    );
    const answered = answers.findIndex((a) => a.length === 0);
    expect(answered).toBeGreaterThan(0);
    expect(answers.slice(0, answered).every((a) => a[0] === 0)).toBe(true);
    expect(answers.slice(answered).every((a) => a.length === 0)).toBe(true);
    expect(runner.spentMs).toBeGreaterThanOrEqual(1000);
    expect(runner.stopOf('slowish')).toBe('report-time');
    // A pattern not run yet is not run at all once the report's time is spent.
    expect(runner.matchingLines('other', /^SLOW/, ['SLOW QUERY 2s'])).toEqual([]);
    expect(runner.stopOf('other')).toBe('report-time');
  });

  it('does not call a pattern stopped for a call without lines', () => {
    const runner = new PatternRunner({ reportMs: 0 });
    expect(runner.matchingLines('p', /x/, [])).toEqual([]);
    expect(runner.stopped('p')).toBe(false);
  });
});
