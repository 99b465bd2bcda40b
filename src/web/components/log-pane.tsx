import { useMemo, useState } from 'preact/hooks';
import { lineText, parseAnsiLines } from '../lib/ansi.js';
import { copyText } from '../lib/copy-text.js';
import { findMatches } from '../lib/log-search.js';
import { LogLines } from './log-lines.js';

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
