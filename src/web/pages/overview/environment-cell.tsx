import type { EnvironmentStatus } from '../../../protocol/deployment-api.js';
import { StateBadge } from '../../components/state-badge.js';
import { activeLook } from '../../lib/active-deployment.js';
import { countHostStates, describeCounts, hostState } from '../../lib/host-state.js';
import { HostCells } from './host-cells.js';

/** How many hosts not ok are named in words under the squares. */
const NAMED = 5;

/**
 * One app in one environment: the desired version and its verdict, a
 * deployment under way, the hosts counted in words, each host as a square,
 * and the hosts that are not ok by name and state.
 */
export function EnvironmentCell({ app, env }: { app: string; env: EnvironmentStatus }) {
  const desired = env.desired?.version ?? null;
  const counts = countHostStates(env);
  const words = describeCounts(counts);
  const notOk = env.hosts
    .map((host) => ({ host: host.host, state: hostState(host, desired) }))
    .filter((host) => host.state !== 'ok')
    .sort((a, b) => badness(b.state) - badness(a.state));
  return (
    <div class="env-status" data-env={env.env}>
      <div class="desired">
        {env.desired ? (
          <>
            <a class="version" href={`/reports/${app}/${env.desired.version}`}>
              v{env.desired.version}
            </a>
            <StateBadge state={env.desired.verdict} />
          </>
        ) : (
          <span class="muted">nothing deployed</span>
        )}
        {env.active && (
          <a href={`/deployments/${encodeURIComponent(env.active.id)}`}>
            <span title={activeLook(env.active).note ?? undefined}>
              <StateBadge
                state={activeLook(env.active).state}
                label={activeLook(env.active).label}
              />
            </span>
          </a>
        )}
      </div>
      <p class="host-counts" data-testid="host-counts">
        {words}
      </p>
      {env.hosts.length > 0 && <HostCells env={env} label={`${app} in ${env.env}: ${words}`} />}
      {notOk.length > 0 && (
        <ul class="bad-hosts" data-testid="hosts-not-ok">
          {notOk.slice(0, NAMED).map((host) => (
            <li key={host.host}>
              <StateBadge state={host.state} />{' '}
              <a href={`/hosts/${encodeURIComponent(host.host)}`}>{host.host}</a>
            </li>
          ))}
          {notOk.length > NAMED && <li class="muted">and {notOk.length - NAMED} more</li>}
        </ul>
      )}
    </div>
  );
}

/** Which states are named first: the worst. */
function badness(state: string): number {
  return ['failed', 'away', 'deploying', 'behind'].reverse().indexOf(state);
}
