import type { Phrase } from '../../report/report-phrases.js';
import { RelTime } from './rel-time.js';

/**
 * A sentence of the release report as the page shows it: the same words as
 * the terminal and Markdown say, but each time relative ("3 minutes ago"),
 * exact on hover, instead of printed in UTC.
 *
 * @example
 *   <PhraseText phrase={stopPhrase(stop)} />
 */
export function PhraseText({ phrase }: { phrase: Phrase }) {
  return (
    <>
      {phrase.map((part, index) =>
        typeof part === 'string' ? part : <RelTime key={index} at={part.at} />,
      )}
    </>
  );
}
