import { describe, expect, it } from 'vitest';
import { chunkWindow, offsetOf } from './chunk-window.js';

describe('chunkWindow', () => {
  const heights = [100, 100, 100, 100, 100, 100, 100, 100, 100, 100];

  it('renders the chunks in view and one more on each side, with the space of the rest', () => {
    expect(chunkWindow(heights, 350, 200, 1)).toEqual({
      first: 2,
      last: 6,
      before: 200,
      after: 300,
    });
  });

  it('at the top and the bottom, stays within the list', () => {
    expect(chunkWindow(heights, 0, 150, 1)).toEqual({ first: 0, last: 2, before: 0, after: 700 });
    expect(chunkWindow(heights, 950, 150, 1)).toEqual({ first: 8, last: 9, before: 800, after: 0 });
    // Scrolled past the end (the list shrank): the last chunk.
    expect(chunkWindow(heights, 5000, 150, 0)).toEqual({
      first: 9,
      last: 9,
      before: 900,
      after: 0,
    });
  });

  it('handles chunks of different heights and an empty list', () => {
    expect(chunkWindow([10, 1000, 10], 500, 100, 0)).toEqual({
      first: 1,
      last: 1,
      before: 10,
      after: 10,
    });
    expect(chunkWindow([], 0, 100)).toEqual({ first: 0, last: -1, before: 0, after: 0 });
  });

  it('offsetOf sums the heights before an index', () => {
    expect(offsetOf([5, 6, 7], 0)).toBe(0);
    expect(offsetOf([5, 6, 7], 2)).toBe(11);
    expect(offsetOf([5, 6, 7], 9)).toBe(18);
  });
});
