/** The tone of a state: what colour it gets, beside its symbol and word. */
export type Tone = 'good' | 'busy' | 'bad' | 'waiting' | 'away' | 'neutral';

/** How a state looks: a symbol and a tone; its word is the state's own. */
export interface StateLook {
  symbol: string;
  tone: Tone;
}

/**
 * Every state word the dashboard shows (hosts, installs, deployments,
 * verdicts, steps) with its symbol, so no state is told by colour alone.
 */
const LOOKS: Record<string, StateLook> = {
  ok: { symbol: '✓', tone: 'good' },
  healthy: { symbol: '✓', tone: 'good' },
  succeeded: { symbol: '✓', tone: 'good' },
  passed: { symbol: '✓', tone: 'good' },
  connected: { symbol: '●', tone: 'good' },
  deploying: { symbol: '↻', tone: 'busy' },
  running: { symbol: '↻', tone: 'busy' },
  // A deployment watching its hosts' health after a batch.
  baking: { symbol: '◔', tone: 'busy' },
  // A deployment waiting for a person after a bad bake.
  paused: { symbol: '⏸', tone: 'waiting' },
  failed: { symbol: '✗', tone: 'bad' },
  failing: { symbol: '✗', tone: 'bad' },
  behind: { symbol: '…', tone: 'waiting' },
  pending: { symbol: '…', tone: 'waiting' },
  queued: { symbol: '…', tone: 'waiting' },
  partial: { symbol: '◐', tone: 'bad' },
  away: { symbol: '○', tone: 'away' },
  offline: { symbol: '○', tone: 'away' },
  stopped: { symbol: '■', tone: 'bad' },
  cancelled: { symbol: '⊘', tone: 'neutral' },
  skipped: { symbol: '–', tone: 'neutral' },
  unknown: { symbol: '?', tone: 'neutral' },
};

/** The look of a state word; an unknown word gets a neutral dot. */
export function stateLook(state: string): StateLook {
  return LOOKS[state] ?? { symbol: '•', tone: 'neutral' };
}
