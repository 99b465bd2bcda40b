import type { DeploymentRecord } from '../../protocol/deployment-api.js';
import type { StoredDeployment, StoredInstall } from '../../store/store.js';
import { migratedOn } from './migration-gate.js';

const PURPOSE_ORDER = ['deploy', 'install', 'revert', 'catch-up'];

/**
 * A deployment as the API shows it: its installs in rollout order (batch, then
 * host), the hosts put back after them, then the hosts that caught up; each
 * with the step it is at.
 */
export function toDeploymentRecord(
  deployment: StoredDeployment,
  installs: StoredInstall[],
): DeploymentRecord {
  const ordered = [...installs].sort(
    (a, b) =>
      PURPOSE_ORDER.indexOf(a.purpose) - PURPOSE_ORDER.indexOf(b.purpose) ||
      (a.batch ?? 0) - (b.batch ?? 0) ||
      (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0) ||
      (a.host < b.host ? -1 : a.host > b.host ? 1 : 0),
  );
  return {
    id: deployment.id,
    app: deployment.app,
    version: deployment.version,
    env: deployment.env,
    kind: deployment.kind,
    state: deployment.state,
    strategy: deployment.strategy,
    fromVersion: deployment.fromVersion,
    createdBy: deployment.createdBy,
    triggeredBy: deployment.triggeredBy,
    createdAt: deployment.createdAt,
    startedAt: deployment.startedAt,
    finishedAt: deployment.finishedAt,
    error: deployment.error,
    bake: deployment.bake && { batch: deployment.bake.batch, until: deployment.bake.until },
    migratedOn: migratedOn(installs),
    installs: ordered.map((install) => ({
      id: install.id,
      host: install.host,
      hostId: install.hostId,
      version: install.version,
      purpose: install.purpose,
      batch: install.batch,
      state: install.state,
      fromVersion: install.fromVersion,
      rolledBack: install.rolledBack,
      error: install.error,
      step: install.steps[install.steps.length - 1] ?? null,
      startedAt: install.startedAt,
      finishedAt: install.finishedAt,
    })),
  };
}
