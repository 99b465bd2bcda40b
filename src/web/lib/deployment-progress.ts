import type { DeploymentRecord } from '../../protocol/deployment-api.js';
import type { FerryEvent } from '../../protocol/events.js';
import {
  DEPLOYMENT_STATES,
  type DeploymentState,
  INSTALL_STATES,
  type InstallState,
  isFinalInstall,
  mayDeploymentMove,
  mayInstallMove,
} from '../../protocol/lifecycle.js';

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
 * deployment's; events of other deployments change nothing, nor does one the
 * lifecycle says cannot follow the state known (it is older than the record:
 * it came while the record was fetched). Returns the same object when nothing
 * changed, so a component need not render again.
 */
export function applyEvent(progress: DeploymentProgress, event: FerryEvent): DeploymentProgress {
  if (event.deploymentId !== progress.id) return progress;
  if (event.kind === 'install.state') {
    const from = progress.installs.get(event.data.installId);
    const to = event.data.state;
    if (from === to) return progress;
    if (from !== undefined && isInstallState(from) && isInstallState(to)) {
      if (!mayInstallMove(from, to)) return progress;
    }
    const installs = new Map(progress.installs);
    installs.set(event.data.installId, to);
    return { ...progress, installs };
  }
  if (event.kind === 'deployment.state' && event.data.state !== progress.state) {
    const { state: from } = progress;
    const to = event.data.state;
    if (isDeploymentState(from) && isDeploymentState(to) && !mayDeploymentMove(from, to)) {
      return progress;
    }
    return { ...progress, state: to };
  }
  return progress;
}

function isInstallState(state: string): state is InstallState {
  return (INSTALL_STATES as readonly string[]).includes(state);
}

function isDeploymentState(state: string): state is DeploymentState {
  return (DEPLOYMENT_STATES as readonly string[]).includes(state);
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
