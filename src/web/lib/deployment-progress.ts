import type { DeploymentRecord } from '../../protocol/deployment-api.js';
import type { FerryEvent } from '../../protocol/events.js';
import { isFinalInstall } from '../../protocol/lifecycle.js';
import type { InstallState } from '../../protocol/lifecycle.js';

/** A deployment's progress as the overview shows it: its state and each install's state. */
export interface DeploymentProgress {
  id: string;
  state: string;
  installs: ReadonlyMap<string, string>;
}

/** The progress of a deployment as fetched. */
export function progressOf(deployment: DeploymentRecord): DeploymentProgress {
  return {
    id: deployment.id,
    state: deployment.state,
    installs: new Map(deployment.installs.map((install) => [install.id, install.state])),
  };
}

/**
 * The progress after one live event: an install's new state, or the
 * deployment's; events of other deployments change nothing. Returns the same
 * object when nothing changed, so a component need not render again.
 */
export function applyEvent(progress: DeploymentProgress, event: FerryEvent): DeploymentProgress {
  if (event.deploymentId !== progress.id) return progress;
  if (event.kind === 'install.state') {
    if (progress.installs.get(event.data.installId) === event.data.state) return progress;
    const installs = new Map(progress.installs);
    installs.set(event.data.installId, event.data.state);
    return { ...progress, installs };
  }
  if (event.kind === 'deployment.state' && event.data.state !== progress.state) {
    return { ...progress, state: event.data.state };
  }
  return progress;
}

/** Counts: installs done (ended, however), failed, and in all. */
export function countProgress(progress: DeploymentProgress): {
  done: number;
  failed: number;
  total: number;
} {
  let done = 0;
  let failed = 0;
  for (const state of progress.installs.values()) {
    if (isFinalInstall(state as InstallState)) done += 1;
    if (state === 'failed') failed += 1;
  }
  return { done, failed, total: progress.installs.size };
}
