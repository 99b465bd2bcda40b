import { stateLook } from '../lib/state-look.js';

/**
 * A state shown as a symbol and its word, coloured by its tone — never by
 * colour alone: "✓ ok", "✗ failed", "○ away".
 *
 * @example
 *   <StateBadge state="failed" />
 *   <StateBadge state={install.state} label={`${install.state} (rolled back)`} />
 */
export function StateBadge({ state, label }: { state: string; label?: string }) {
  const look = stateLook(state);
  return (
    <span class={`badge tone-${look.tone}`} data-state={state}>
      <span aria-hidden="true">{look.symbol}</span> {label ?? state}
    </span>
  );
}
