import { outcomeOf } from '../lib/outcome.js';

/**
 * A state as a symbol and a word, coloured by its tone: `✗ failed`. The symbol
 * is hidden from screen readers, which read the word.
 */
export function OutcomeLabel({ state, testId }: { state: string | null; testId?: string }) {
  const outcome = outcomeOf(state);
  return (
    <span
      class={`outcome outcome-${outcome.tone}`}
      data-state={state ?? 'none'}
      data-testid={testId}
    >
      <span class="outcome-symbol" aria-hidden="true">
        {outcome.symbol}
      </span>{' '}
      {outcome.word}
    </span>
  );
}
