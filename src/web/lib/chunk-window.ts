/**
 * Which chunks of a long list to render: a log of 100,000 lines is cut into
 * chunks of lines, and only those in view (and a few around) are made into
 * elements; the others are stood for by space of their known or estimated
 * height. Pure arithmetic, kept apart from the component that measures.
 *
 * @example
 *   chunkWindow([2000, 2000, 2000], 2500, 600, 1);
 *   // { first: 0, last: 2, before: 0, after: 0 }
 */

/** The chunks to render, and the space before and after them. */
export interface ChunkWindow {
  /** Index of the first chunk to render. */
  readonly first: number;
  /** Index of the last chunk to render (inclusive); -1 when there is none. */
  readonly last: number;
  /** Height of the chunks before `first`. */
  readonly before: number;
  /** Height of the chunks after `last`. */
  readonly after: number;
}

/** The chunks that overlap the viewport, with `overscan` more on each side. */
export function chunkWindow(
  heights: readonly number[],
  scrollTop: number,
  viewportHeight: number,
  overscan = 1,
): ChunkWindow {
  if (heights.length === 0) return { first: 0, last: -1, before: 0, after: 0 };
  const bottom = scrollTop + Math.max(viewportHeight, 1);
  let top = 0;
  let firstVisible = -1;
  let lastVisible = heights.length - 1;
  for (let i = 0; i < heights.length; i++) {
    const end = top + heights[i]!;
    if (firstVisible < 0 && end > scrollTop) firstVisible = i;
    if (end >= bottom) {
      lastVisible = i;
      break;
    }
    top = end;
  }
  if (firstVisible < 0) firstVisible = heights.length - 1;
  lastVisible = Math.max(lastVisible, firstVisible);
  const first = Math.max(0, firstVisible - overscan);
  const last = Math.min(heights.length - 1, lastVisible + overscan);
  return {
    first,
    last,
    before: offsetOf(heights, first),
    after: offsetOf(heights, heights.length) - offsetOf(heights, last + 1),
  };
}

/** Where chunk `index` begins: the sum of the heights before it. */
export function offsetOf(heights: readonly number[], index: number): number {
  let sum = 0;
  for (let i = 0; i < index && i < heights.length; i++) sum += heights[i]!;
  return sum;
}
