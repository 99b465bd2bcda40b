import type { HostApp } from '../lib/hosts-model.js';
import { serviceHealthText } from '../lib/host-state.js';
import { StateBadge } from './state-badge.js';

/**
 * Continuous health: the state, with since when and the restarts in words
 * beside it, and the failing probe's answer in its title.
 */
export function ServiceHealthBadge({ service }: { service: NonNullable<HostApp['service']> }) {
  return (
    <span
      data-testid="service-health"
      data-state={service.state}
      title={service.answer ?? undefined}
    >
      <StateBadge state={service.state} />{' '}
      <span class="muted">{serviceHealthText(service).slice(service.state.length + 1)}</span>
    </span>
  );
}
