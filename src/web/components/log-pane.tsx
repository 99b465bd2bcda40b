import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { type AnsiLine, lineText, parseAnsiLines } from '../lib/ansi.js';
import { chunkWindow, offsetOf } from '../lib/chunk-window.js';
import { copyText } from '../lib/copy-text.js';
import { findMatches, type LogMatch, markRuns } from '../lib/log-search.js';

/** Lines per chunk: what is made into elements at once, and measured as one. */
const CHUNK_LINES = 100;
/** A line's height without wrapping, as the stylesheet sets it (`.log-line`). */
const LINE_HEIGHT = 20;
/** A character's width in the log's font, for the first guess of wrapped heights. */
const CHAR_WIDTH = 8;

interface LogPaneProps {
  /** The whole output of one stream, with its ANSI sequences. */
  text: string;
  /** Which stream it is, in words (`stdout`, `stderr`): names the pane and its controls. */
  label: string;
}

/**
 * One stream of a step's output: all of it, with its colours, line numbers, a
 * search that marks every match and moves between them ("3 of 12"), a wrap
 * toggle and copy. Only the chunks of lines in view are elements, so 5 MB of
 * output scrolls as lightly as 5 KB. Text is only ever text nodes.
 */
export function LogPane({ text, label }: LogPaneProps) {
  const lines = useMemo(() => parseAnsiLines(text), [text]);
  const plain = useMemo(() => lines.map(lineText), [lines]);
  const [query, setQuery] = useState('');
  const [wrap, setWrap] = useState(false);
  const [currentIndex, setCurrentIndex] = useState(0);
  const [copied, setCopied] = useState<string | null>(null);
  const { matches, capped } = useMemo(() => findMatches(plain, query), [plain, query]);
  const current =
    matches.length === 0 ? null : matches[Math.min(currentIndex, matches.length - 1)]!;

  const move = (step: 1 | -1) => {
    if (matches.length === 0) return;
    setCurrentIndex(
      (index) => (Math.min(index, matches.length - 1) + step + matches.length) % matches.length,
    );
  };

  const copy = async () => {
    const ok = await copyText(plain.join('\n'));
    setCopied(ok ? `Copied ${plain.length} lines` : 'Copy failed: select the text instead');
  };

  const position =
    query === ''
      ? ''
      : matches.length === 0
        ? 'No match'
        : `${Math.min(currentIndex, matches.length - 1) + 1} of ${matches.length}${capped ? '+' : ''}`;

  return (
    <div class="log-pane" data-testid={`log-${label}`}>
      <div class="log-toolbar" role="toolbar" aria-label={`${label} tools`}>
        <input
          type="search"
          class="log-search"
          placeholder={`Search ${label}`}
          aria-label={`Search ${label}`}
          value={query}
          onInput={(event) => {
            setQuery(event.currentTarget.value);
            setCurrentIndex(0);
          }}
          onKeyDown={(event) => {
            if (event.key === 'Enter') {
              event.preventDefault();
              move(event.shiftKey ? -1 : 1);
            }
          }}
        />
        <span class="log-position" aria-live="polite" data-testid={`log-${label}-position`}>
          {position}
        </span>
        <button
          type="button"
          aria-label={`Previous match in ${label}`}
          onClick={() => move(-1)}
          disabled={matches.length === 0}
        >
          Previous match
        </button>
        <button
          type="button"
          aria-label={`Next match in ${label}`}
          onClick={() => move(1)}
          disabled={matches.length === 0}
        >
          Next match
        </button>
        <label class="log-wrap">
          <input
            type="checkbox"
            aria-label={`Wrap ${label} lines`}
            checked={wrap}
            onChange={(event) => setWrap(event.currentTarget.checked)}
          />{' '}
          Wrap lines
        </label>
        <button type="button" onClick={() => void copy()} disabled={plain.length === 0}>
          Copy {label}
        </button>
        {copied && (
          <span class="log-copied" role="status">
            {copied}
          </span>
        )}
      </div>
      {lines.length === 0 ? (
        <p class="log-empty">No {label} output.</p>
      ) : (
        <LogLines lines={lines} label={label} wrap={wrap} matches={matches} current={current} />
      )}
    </div>
  );
}

interface LogLinesProps {
  lines: readonly AnsiLine[];
  label: string;
  wrap: boolean;
  matches: readonly LogMatch[];
  current: LogMatch | null;
}

/** The scrolling body: chunks of lines, only those in view rendered, each measured once shown. */
function LogLines({ lines, label, wrap, matches, current }: LogLinesProps) {
  const scroller = useRef<HTMLDivElement>(null);
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
      <div class="log-spacer" style={{ height: `${visible.before}px` }} />
      {chunks}
      <div class="log-spacer" style={{ height: `${visible.after}px` }} />
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
