import { FerryError } from '../../protocol/errors.js';
import { deploymentStatesBefore, isActiveDeployment } from '../../protocol/lifecycle.js';
import type { Store, StoredDeployment } from '../../store/store.js';
import { historyEvent } from '../history-event.js';
import { clearDegradedAlert } from './bake-watch.js';
import { storedDeployment } from './deployment-reads.js';

/**
 * Cancels a deployment: no new install is sent; hosts sent one they have not
 * started decline it; installs already running finish, and each install's
 * record says what its host got. The environment's desired release stays what
 * it was before (a host that did get the new version is ahead of it), and
 * catch-up installs nothing on account of this deployment. The same holds
 * while a failed rollout puts hosts back: a revert under way finishes, the
 * others are not sent, and their hosts stay on the new version, ahead.
 * Refused with `E_DEPLOYMENT_FINISHED` once it has ended.
 *
 * @example
 *   await cancelDeployment(store, deployment, 'alice');
 */
export async function cancelDeployment(
  store: Pick<Store, 'deployments' | 'alerts' | 'history'>,
  deployment: StoredDeployment,
  by: string,
): Promise<void> {
  const id = deployment.id;
  // Cancelled while a failed rollout put hosts back: why it stopped still holds.
  const error =
    deployment.phase === 'reverting' && deployment.error
      ? `${deployment.error}; cancelled by ${by} while hosts were being put back`
      : `cancelled by ${by}`;
  // Its installs no host has begun are cancelled in the same step: none can be
  // sent, or told to go ahead, once the deployment is cancelled. One running finishes.
  const cancelled =
    isActiveDeployment(deployment.state) &&
    (await store.deployments.update(
      id,
      { state: 'cancelled', finishedAt: new Date().toISOString(), error },
      {
        from: deploymentStatesBefore('cancelled'),
        cancelUnstarted: { error: `the deployment was cancelled by ${by}` },
      },
    ));
  if (!cancelled) {
    const state = (await storedDeployment(store, id)).state;
    throw new FerryError('E_DEPLOYMENT_FINISHED', `Deployment ${id} has already ended (${state})`, {
      id,
      state,
    });
  }
  await store.deployments.releaseLock(deployment.app, deployment.env, id);
  await clearDegradedAlert(store, id, 'the deployment ended cancelled');
  await store.history.record(
    historyEvent({
      type: 'cancel',
      by,
      app: deployment.app,
      version: deployment.version,
      env: deployment.env,
      deploymentId: id,
      detail: `cancelled ${deployment.kind} (was ${deployment.state})`,
    }),
  );
  // The driver hears the deployment.state event, on whichever replica holds the lease.
}
