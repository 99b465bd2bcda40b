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
    const runner = new PatternRunner(100, 0);
    const backtracks = /^(\w+\s?)+:/;
    const lines = ['ERROR: boom', `${'word '.repeat(400)}!`, 'WARN: later'];
    expect(runner.matchingLines('slow', backtracks, lines)).toEqual([0]);
    expect(runner.stopped('slow')).toBe(true);
    expect(runner.matchingLines('slow', backtracks, ['ERROR: again'])).toEqual([]);
    // Another pattern has its own budget.
    expect(runner.matchingLines('other', /^WARN/, lines)).toEqual([2]);
    expect(runner.stopped('other')).toBe(false);
  }, 5_000);
});
