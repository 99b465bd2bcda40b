/**
 * How a step, an install or a deployment stands, as a symbol and a word (never
 * colour alone) and a tone the stylesheet colours: `✓ succeeded`, `↻ running`,
 * `✗ failed`. State names come from the server (src/protocol/lifecycle.ts);
 * one this page does not know still shows, as itself.
 *
 * @example
 *   outcomeOf('failed'); // { symbol: '✗', word: 'failed', tone: 'failed' }
 */

/** The tones the stylesheet knows (`outcome-<tone>`). */
export type OutcomeTone = 'ok' | 'running' | 'failed' | 'waiting' | 'muted' | 'warning';

export interface Outcome {
  readonly symbol: string;
  readonly word: string;
  readonly tone: OutcomeTone;
}

const OUTCOMES: Record<string, Outcome> = {
  succeeded: { symbol: '✓', word: 'succeeded', tone: 'ok' },
  running: { symbol: '↻', word: 'running', tone: 'running' },
  failed: { symbol: '✗', word: 'failed', tone: 'failed' },
  pending: { symbol: '…', word: 'pending', tone: 'waiting' },
  queued: { symbol: '…', word: 'queued', tone: 'waiting' },
  skipped: { symbol: '⤼', word: 'skipped', tone: 'warning' },
  cancelled: { symbol: '⊘', word: 'cancelled', tone: 'muted' },
  partial: { symbol: '◐', word: 'partial', tone: 'warning' },
  rolled_back: { symbol: '↶', word: 'rolled back', tone: 'failed' },
  no_hosts: { symbol: '○', word: 'no hosts', tone: 'muted' },
};

/** The outcome of a state name; null (a step not reported yet) is `· not run`. */
export function outcomeOf(state: string | null | undefined): Outcome {
  if (state === null || state === undefined) return { symbol: '·', word: 'not run', tone: 'muted' };
  return OUTCOMES[state] ?? { symbol: '•', word: state.replace(/_/g, ' '), tone: 'muted' };
}
