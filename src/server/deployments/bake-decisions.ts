import { FerryError } from '../../protocol/errors.js';
import { isBaking } from '../../protocol/lifecycle.js';
import type { Store, StoredDeployment } from '../../store/store.js';
import { clearDegradedAlert } from './bake-watch.js';
import { planReverts } from './revert-plan.js';

/**
 * `ferry deployments resume <id>`: a person looked at a deployment paused after
 * a bad bake and lets it go on as it is. The bake of that batch counts as over
 * (its end is now): the next batch goes, or, after the last, the deployment
 * ends. (The audit log records who did it; the deployment's history line
 * shows how it ended; its error keeps why it paused, with `; resumed by <who>`.) Its `deployment-degraded` alert stays open (its release runs on). Refused with `E_DEPLOYMENT_NOT_PAUSED` unless it is paused.
 *
 * @example
 *   await resumeDeployment(store, deployment, 'alice');
 */
export async function resumeDeployment(
  store: Pick<Store, 'deployments' | 'alerts'>,
  deployment: StoredDeployment,
  by: string,
): Promise<void> {
  const now = new Date().toISOString();
  const resumed =
    deployment.state === 'paused' &&
    (await store.deployments.update(
      deployment.id,
      {
        state: 'running',
        // Why it paused stays on the record, with who let it go on.
        error: `${deployment.error ?? 'paused after a bad bake'}; resumed by ${by}`,
        ...(deployment.bake ? { bake: { ...deployment.bake, until: now } } : {}),
      },
      { from: ['paused'] },
    ));
  if (!resumed) throw notPaused(deployment, (await store.deployments.get(deployment.id))?.state);
  // Its degraded alert stays open: the release it warns of goes on running
  // (the alert clears when a later deployment lands, see AlertService).
}

/**
 * `ferry deployments rollback <id>`: a person rolls back a deployment that is
 * baking or paused after a bad bake, the way a failed rollout goes back: the
 * hosts not yet sent their install get none, and each host done goes back to
 * its previous release (the driver sends the reverts; the deployment ends
 * `rolled_back`). Refused with `E_DEPLOYMENT_NOT_BAKING` otherwise.
 *
 * @example
 *   await rollBackBakingDeployment(store, deployment, 'alice');
 */
export async function rollBackBakingDeployment(
  store: Pick<Store, 'deployments' | 'installs' | 'alerts'>,
  deployment: StoredDeployment,
  by: string,
): Promise<void> {
  if (!isBaking(deployment.state)) throw notBaking(deployment, deployment.state);
  const reason = `rolled back by ${by} during its bake${deployment.error ? ` (${deployment.error})` : ''}`;
  const wave = (await store.installs.list({ deploymentId: deployment.id, steps: false })).filter(
    (i) => i.purpose === 'deploy',
  );
  const { reverts, note } = planReverts(deployment, wave);
  const now = new Date().toISOString();
  // Later batches (a batch bake) are not sent: cancelled with the change, in
  // one step, so a rollback that loses (the driver ended the bake first) has
  // cancelled nothing the rollout still counts on.
  const conditions = {
    from: ['baking', 'paused'] as const,
    phase: 'rollout' as const,
    cancelUnstarted: { error: `the deployment was rolled back by ${by}` },
  };
  const changed =
    reverts.length === 0
      ? await store.deployments.update(
          deployment.id,
          { state: 'rolled_back', finishedAt: now, error: reason + note },
          conditions,
        )
      : await store.deployments.update(
          deployment.id,
          { state: 'running', phase: 'reverting', error: reason + note },
          { ...conditions, installs: reverts },
        );
  if (!changed) throw notBaking(deployment, (await store.deployments.get(deployment.id))?.state);
  if (reverts.length > 0) return;
  await store.deployments.releaseLock(deployment.app, deployment.env, deployment.id);
  await clearDegradedAlert(store, deployment.id, 'the deployment ended rolled_back');
}

function notPaused(deployment: StoredDeployment, state: string | undefined): FerryError {
  return new FerryError(
    'E_DEPLOYMENT_NOT_PAUSED',
    `Deployment ${deployment.id} is not paused (it is ${state ?? 'gone'})`,
    { id: deployment.id, state: state ?? null },
  );
}

function notBaking(deployment: StoredDeployment, state: string | undefined): FerryError {
  return new FerryError(
    'E_DEPLOYMENT_NOT_BAKING',
    `Deployment ${deployment.id} is neither baking nor paused (it is ${state ?? 'gone'}): ` +
      'roll back a finished one with ferry rollback',
    { id: deployment.id, state: state ?? null },
  );
}
