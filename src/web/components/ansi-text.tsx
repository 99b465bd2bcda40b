import { parseAnsi } from '../lib/ansi.js';

/**
 * Short text with ANSI colours (a failure's last lines) as coloured spans of
 * text, every other escape removed; put it in a `<pre>`. For whole step
 * output use the log pane.
 */
export function AnsiText({ text }: { text: string }) {
  return (
    <>
      {parseAnsi(text).map((run, index) =>
        run.classes.length === 0 ? (
          run.text
        ) : (
          <span key={index} class={run.classes.join(' ')}>
            {run.text}
          </span>
        ),
      )}
    </>
  );
}
