import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { AnsiLine } from '../lib/ansi.js';
import { chunkWindow, offsetOf } from '../lib/chunk-window.js';
import { type LogMatch, markRuns } from '../lib/log-search.js';

/** Lines per chunk: what is made into elements at once, and measured as one. */
const CHUNK_LINES = 100;
/** A line's height without wrapping, as the stylesheet sets it (`.log-line`). */
const LINE_HEIGHT = 20;
/** A character's width in the log's font, for the first guess of wrapped heights. */
const CHAR_WIDTH = 8;

export interface LogLinesProps {
  lines: readonly AnsiLine[];
  label: string;
  wrap: boolean;
  matches: readonly LogMatch[];
  current: LogMatch | null;
}

/**
 * The scrolling body of a log pane: the lines in chunks, only the chunks in
 * view (and one each side) rendered, each measured once shown; the others
 * stood for by space of their measured or estimated height. Matches are
 * marked, and the current one is scrolled to.
 */
export function LogLines({ lines, label, wrap, matches, current }: LogLinesProps) {
  const scroller = useRef<HTMLDivElement>(null);
  /** The space of the chunks not rendered, set through CSSOM (the CSP allows no style attribute). */
  const spacerBefore = useRef<HTMLDivElement>(null);
  const spacerAfter = useRef<HTMLDivElement>(null);
  const [viewport, setViewport] = useState({ top: 0, height: 600, width: 800 });
  /** Each chunk's height: measured once it was shown, estimated until then. */
  const heights = useRef<number[]>([]);
  const estimateOf = useRef<readonly number[] | null>(null);
  const [, setMeasured] = useState(0);
  const jumpTo = useRef<number | null>(null);

  // New text, or wrapping switched: every height is a guess again, corrected
  // as each chunk is shown and measured. (The width matters only for the guess.)
  const estimate = useMemo(() => estimateHeights(lines, wrap, viewport.width), [lines, wrap]);
  if (estimateOf.current !== estimate) {
    estimateOf.current = estimate;
    heights.current = [...estimate];
  }

  useEffect(() => {
    const element = scroller.current;
    if (!element) return;
    const observe = () =>
      setViewport((v) =>
        v.height === element.clientHeight && v.width === element.clientWidth
          ? v
          : { ...v, height: element.clientHeight, width: element.clientWidth },
      );
    observe();
    const observer = new ResizeObserver(observe);
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  const visible = chunkWindow(heights.current, viewport.top, viewport.height, 1);

  // The current match moved: bring its chunk into the window, then its line into view.
  useEffect(() => {
    const element = scroller.current;
    if (!element || current === null) return;
    const chunk = Math.floor(current.line / CHUNK_LINES);
    jumpTo.current = current.line;
    if (chunk < visible.first || chunk > visible.last) {
      const top = offsetOf(heights.current, chunk);
      element.scrollTop = top;
      setViewport((v) => ({ ...v, top }));
    }
  }, [current]);

  // After each render: measure the chunks shown, and finish a jump to a line.
  useLayoutEffect(() => {
    const element = scroller.current;
    if (!element) return;
    if (spacerBefore.current) spacerBefore.current.style.height = `${visible.before}px`;
    if (spacerAfter.current) spacerAfter.current.style.height = `${visible.after}px`;
    let changed = false;
    for (const shown of element.querySelectorAll<HTMLElement>('[data-chunk]')) {
      const index = Number(shown.dataset.chunk);
      const height = shown.offsetHeight;
      if (height > 0 && heights.current[index] !== height) {
        heights.current[index] = height;
        changed = true;
      }
    }
    if (changed) setMeasured((n) => n + 1);
    if (jumpTo.current !== null) {
      const line = element.querySelector<HTMLElement>(`[data-line="${jumpTo.current}"]`);
      if (line) {
        jumpTo.current = null;
        const box = line.getBoundingClientRect();
        const view = element.getBoundingClientRect();
        if (box.top < view.top || box.bottom > view.bottom) {
          element.scrollTop += box.top - view.top - element.clientHeight / 2;
        }
      }
    }
  });

  const onScroll = () => {
    const element = scroller.current;
    if (!element) return;
    const top = element.scrollTop;
    const next = chunkWindow(heights.current, top, viewport.height, 1);
    // Only a change of the chunks shown is worth a render.
    if (next.first !== visible.first || next.last !== visible.last) {
      setViewport((v) => ({ ...v, top }));
    }
  };

  const byLine = useMemo(() => {
    const map = new Map<number, LogMatch[]>();
    for (const match of matches) {
      const list = map.get(match.line);
      if (list) list.push(match);
      else map.set(match.line, [match]);
    }
    return map;
  }, [matches]);

  const chunks = [];
  for (let chunk = visible.first; chunk <= visible.last; chunk++) {
    const rows = [];
    const end = Math.min(lines.length, (chunk + 1) * CHUNK_LINES);
    for (let i = chunk * CHUNK_LINES; i < end; i++) {
      const lineMatches = byLine.get(i) ?? [];
      const segments = markRuns(lines[i]!, lineMatches, current?.line === i ? current : null);
      rows.push(
        <div class="log-line" data-line={i} key={i}>
          <span class="log-number" aria-hidden="true">
            {i + 1}
          </span>
          <span class="log-text">
            {segments.map((segment, k) => {
              const classes = segment.classes.join(' ');
              if (segment.mark !== null) {
                return (
                  <mark
                    key={k}
                    class={`log-match${segment.mark === 'current' ? ' log-match-current' : ''} ${classes}`}
                  >
                    {segment.text}
                  </mark>
                );
              }
              return classes === '' ? (
                segment.text
              ) : (
                <span key={k} class={classes}>
                  {segment.text}
                </span>
              );
            })}
          </span>
        </div>,
      );
    }
    chunks.push(
      <div class="log-chunk" data-chunk={chunk} key={chunk}>
        {rows}
      </div>,
    );
  }

  return (
    <div
      ref={scroller}
      class={`log-body${wrap ? ' log-body-wrap' : ''}`}
      role="region"
      aria-label={`${label} output, ${lines.length} lines`}
      tabIndex={0}
      onScroll={onScroll}
    >
      <div class="log-spacer" ref={spacerBefore} />
      {chunks}
      <div class="log-spacer" ref={spacerAfter} />
    </div>
  );
}

/** A first guess of each chunk's height: a line a row, or as many rows as it wraps to. */
function estimateHeights(lines: readonly AnsiLine[], wrap: boolean, width: number): number[] {
  const columns = Math.max(20, Math.floor((width - 60) / CHAR_WIDTH));
  const chunkCount = Math.ceil(lines.length / CHUNK_LINES);
  return Array.from({ length: chunkCount }, (_, chunk) => {
    let rows = 0;
    const end = Math.min(lines.length, (chunk + 1) * CHUNK_LINES);
    for (let i = chunk * CHUNK_LINES; i < end; i++) {
      rows += wrap ? Math.max(1, Math.ceil(lineLength(lines[i]!) / columns)) : 1;
    }
    return rows * LINE_HEIGHT;
  });
}

function lineLength(line: AnsiLine): number {
  let length = 0;
  for (const run of line) length += run.text.length;
  return length;
}
