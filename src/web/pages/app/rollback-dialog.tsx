import { useState } from 'preact/hooks';
import type { EnvironmentStatus } from '../../../protocol/deployment-api.js';
import { api } from '../../api/ferry-api.js';
import { useResource } from '../../api/use-resource.js';
import { ConfirmDialog } from '../../components/confirm-dialog.js';
import { ErrorBox } from '../../components/error-box.js';
import { hostPlan, rollbackVersions } from '../../lib/app-records.js';

/** How many hosts' plans are listed; the rest are counted. */
const LISTED = 200;

/**
 * How many of the environment's deployments the versions to go back to are
 * read from: its own, however many the app had elsewhere since.
 */
const DEPLOYMENTS = 100;

/**
 * Roll an environment back: the target version chosen from those that
 * landed there (the one before first), read from the environment's own
 * deployments when the dialog opens, and what it will do on each host.
 */
export function RollbackDialog({
  app,
  env,
  onDone,
  onClose,
}: {
  app: string;
  env: EnvironmentStatus;
  onDone: () => void;
  onClose: () => void;
}) {
  const deployments = useResource(
    (signal) =>
      api.call('deployments', { query: { app, env: env.env, limit: DEPLOYMENTS } }, { signal }),
    [app, env.env],
  );
  const versions = deployments.data
    ? rollbackVersions(env.env, env.desired?.version ?? null, deployments.data.deployments)
    : undefined;
  const [chosen, setChosen] = useState<number | undefined>(undefined);
  const target = chosen ?? versions?.[0];
  const plans = target === undefined ? [] : env.hosts.map((host) => hostPlan(host, target));
  return (
    <ConfirmDialog
      title={`Roll ${app} back in ${env.env}?`}
      confirmLabel={target === undefined ? 'Roll back' : `Roll back to v${target}`}
      confirmDisabled={target === undefined}
      danger
      onClose={onClose}
      onConfirm={async () => {
        if (target === undefined) throw new Error('Choose the version to go back to.');
        await api.call('rollback', { body: { app, env: env.env, to: target } });
        onDone();
      }}
    >
      <p>
        {env.env} should run {env.desired ? <strong>v{env.desired.version}</strong> : 'nothing yet'}{' '}
        now.
      </p>
      {deployments.error !== undefined && <ErrorBox error={deployments.error} />}
      {versions === undefined ? (
        deployments.error === undefined && (
          <p class="muted" aria-busy="true">
            Reading what landed in {env.env}…
          </p>
        )
      ) : versions.length === 0 ? (
        <p data-testid="nothing-to-go-back-to">
          No other version has landed in {env.env}: there is nothing to go back to.
        </p>
      ) : (
        <>
          <label for="rollback-target">Go back to</label>
          <select
            id="rollback-target"
            name="target"
            value={target}
            onChange={(event) => setChosen(Number(event.currentTarget.value))}
          >
            {versions.map((version) => (
              <option key={version} value={version}>
                v{version}
              </option>
            ))}
          </select>
          <h3>On each host</h3>
          {plans.length === 0 ? (
            <p class="muted">{env.env} has no hosts for this app.</p>
          ) : (
            <ul class="host-plan" data-testid="host-plan">
              {plans.slice(0, LISTED).map((plan) => (
                <li key={plan}>{plan}</li>
              ))}
              {plans.length > LISTED && (
                <li class="muted">and {plans.length - LISTED} more hosts</li>
              )}
            </ul>
          )}
        </>
      )}
    </ConfirmDialog>
  );
}
