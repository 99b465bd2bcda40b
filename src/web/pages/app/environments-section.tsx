import type { EnvironmentRecord, Session } from '../../../protocol/api.js';
import type { EnvironmentStatus } from '../../../protocol/deployment-api.js';
import { ActionButton } from '../../components/action-button.js';
import { StateBadge } from '../../components/state-badge.js';
import { activeLook } from '../../lib/active-deployment.js';
import { RelTime } from '../../components/rel-time.js';
import { countHostStates, describeCounts } from '../../lib/host-state.js';
import { mayChangeEnvironment } from '../../lib/permissions.js';
import { HostCells } from '../overview/host-cells.js';

/** An app in each environment: what should run, what is under way, the hosts; roll back and cancel. */
export function EnvironmentsSection({
  app,
  session,
  environments,
  status,
  onRollback,
  onCancel,
}: {
  app: string;
  session: Session;
  environments: readonly EnvironmentRecord[];
  status: readonly EnvironmentStatus[];
  onRollback: (env: EnvironmentStatus) => void;
  onCancel: (env: EnvironmentStatus) => void;
}) {
  return (
    <section aria-labelledby="envs-title">
      <h2 id="envs-title">Environments</h2>
      <div class="env-grid">
        {environments.map((record) => {
          const env = status.find((s) => s.env === record.name) ?? {
            env: record.name,
            desired: null,
            active: null,
            hosts: [],
          };
          const words = describeCounts(countHostStates(env));
          const active = env.active ? activeLook(env.active) : null;
          return (
            <div class="panel" key={record.name} data-testid="app-env" data-env={record.name}>
              <h3>
                {record.name}
                {record.protected ? <span class="muted"> (protected)</span> : null}
              </h3>
              <p class="desired">
                {env.desired ? (
                  <>
                    <span>
                      should run <strong class="version">v{env.desired.version}</strong>
                    </span>
                    <StateBadge state={env.desired.verdict} />
                    <span class="muted">
                      since <RelTime at={env.desired.since} />
                    </span>
                  </>
                ) : (
                  <span class="muted">nothing deployed</span>
                )}
              </p>
              {env.active && active && (
                <p>
                  <a href={`/deployments/${encodeURIComponent(env.active.id)}`}>
                    <StateBadge state={active.state} label={active.label} />
                  </a>
                  {active.note && (
                    <span class="muted" data-testid="active-note">
                      {' '}
                      {active.note}
                    </span>
                  )}
                </p>
              )}
              <p class="host-counts">{words}</p>
              {env.hosts.length > 0 && (
                <HostCells env={env} label={`${app} in ${env.env}: ${words}`} />
              )}
              <div class="actions">
                <ActionButton
                  permission={
                    env.desired
                      ? mayChangeEnvironment('rollback', session, record)
                      : { allowed: false, reason: 'nothing deployed here yet' }
                  }
                  onClick={() => onRollback(env)}
                  kind="danger"
                  testId="rollback"
                >
                  Roll back…
                </ActionButton>
                {env.active && (
                  <ActionButton
                    permission={mayChangeEnvironment('cancelDeployment', session, record)}
                    onClick={() => onCancel(env)}
                    testId="cancel"
                  >
                    Cancel deployment…
                  </ActionButton>
                )}
              </div>
            </div>
          );
        })}
      </div>
    </section>
  );
}
