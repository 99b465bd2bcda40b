import {
  deploymentStatesBefore,
  isActiveDeployment,
  mayDeploymentMove,
} from '../../protocol/lifecycle.js';
import type { Store, StoredDeployment } from '../../store/store.js';

/**
 * A deployment that ended with hosts left undone (`partial`: they were away)
 * finishes when they do: once every host it left undone has caught up to its
 * release (a catch-up recorded in the same deployment, or the rollout's own
 * install that its host ran after all), it becomes `succeeded`. Only while
 * its release is still the environment's desired one.
 *
 * @example
 *   if (install.state === 'succeeded') await completeIfCaughtUp(store, deployment);
 */
export async function completeIfCaughtUp(
  store: Pick<Store, 'deployments' | 'installs'>,
  deployment: StoredDeployment,
): Promise<void> {
  if (isActiveDeployment(deployment.state)) return;
  if (!mayDeploymentMove(deployment.state, 'succeeded')) return;
  const [desired] = await store.deployments.listDesiredReleases({
    env: deployment.env,
    app: deployment.app,
  });
  if (desired?.deploymentId !== deployment.id) return;
  const installs = await store.installs.list({ deploymentId: deployment.id });
  const caughtUp = new Set(
    installs
      .filter((i) => i.purpose === 'catch-up' && i.state === 'succeeded')
      .filter((i) => i.version === deployment.version)
      .map((i) => i.hostId),
  );
  // The rollout's own installs: a host given up on that ran its job after all is done too.
  const undone = installs.filter(
    (i) => i.purpose === 'deploy' && i.state !== 'succeeded' && !caughtUp.has(i.hostId),
  );
  if (undone.length > 0) return;
  await store.deployments.update(
    deployment.id,
    { state: 'succeeded', finishedAt: new Date().toISOString(), error: null },
    { from: deploymentStatesBefore('succeeded').filter((s) => !isActiveDeployment(s)) },
  );
}
