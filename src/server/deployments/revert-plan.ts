import type { NewInstall, StoredDeployment, StoredInstall } from '../../store/store.js';
import { batchSize, newId } from './rollout-plan.js';

/** The installs that put a deployment's hosts back, and what stays as it is. */
export interface RevertPlan {
  /** One `revert` install per host done that had a previous release, in batches. */
  reverts: NewInstall[];
  /** What the reverts leave out ("; web-2 had no previous release and stays on 12"), or ''. */
  note: string;
}

/**
 * Plans putting back the hosts of a deployment's wave that took its release:
 * each host done goes back to the release it had before. The last hosts done
 * go back first, in batches of the rollout's size, so that the environment
 * never has more hosts restarting at once than during the rollout. A host that
 * had no previous release stays as it is (the note says so). Used when a
 * rollout stops (too many hosts failed, or turned unhealthy during its bake)
 * and when a person rolls back a baking or paused deployment.
 *
 * @example
 *   const { reverts, note } = planReverts(deployment, wave);
 *   await store.deployments.update(id, { phase: 'reverting', error: reason + note }, { installs: reverts });
 */
export function planReverts(deployment: StoredDeployment, wave: StoredInstall[]): RevertPlan {
  const done = wave.filter((i) => i.state === 'succeeded');
  const revertible = done
    .filter((i) => i.fromVersion !== null && i.fromVersion !== deployment.version)
    .sort((a, b) => (b.batch ?? 0) - (a.batch ?? 0) || (a.host < b.host ? -1 : 1));
  const stranded = done.filter((i) => i.fromVersion === null).map((i) => i.host);
  const note = stranded.length
    ? `; ${stranded.join(', ')} had no previous release and stay on ${deployment.version}`
    : '';
  const size = batchSize(deployment.strategy, wave.length);
  const reverts = revertible.map((install, index): NewInstall => ({
    id: newId('ins'),
    hostId: install.hostId,
    app: deployment.app,
    version: install.fromVersion!,
    createdBy: deployment.createdBy,
    deploymentId: deployment.id,
    purpose: 'revert',
    batch: Math.floor(index / size),
    fromVersion: deployment.version,
    state: 'pending',
  }));
  return { reverts, note };
}
