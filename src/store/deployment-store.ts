import type {
  DeploymentKind,
  DeploymentState,
  StrategyRecord,
} from '../protocol/deployment-api.js';
import type { BundleKey } from '../protocol/note-api.js';
import type { InstallSnapshot, NewInstall } from './install-store.js';

/** A deployment as the store keeps it, with the lease of the replica that drives it. */
export interface StoredDeployment {
  id: string;
  app: string;
  version: number;
  env: string;
  kind: DeploymentKind;
  state: DeploymentState;
  phase: 'rollout' | 'reverting';
  strategy: StrategyRecord;
  fromVersion: number | null;
  /**
   * Who started it: a token's name, or for an automatic deployment the policy
   * (`policy:qa/autoDeploy`, `policy:prod/autoPromote`).
   */
  createdBy: string;
  /** For an automatic deployment, the token whose push or verdict set it off; else null. */
  triggeredBy: string | null;
  /**
   * True when it takes today's variables for every host (`--refresh-vars`);
   * false when a release that landed before keeps its own snapshot.
   */
  refreshVars: boolean;
  /**
   * True when whoever started it confirmed going back across migrations
   * (`--yes`); false for an automatic one. One queued behind another is checked
   * again when it starts, unless confirmed.
   */
  migrationsConfirmed: boolean;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  error: string | null;
  leaseOwner: string | null;
  leaseExpiresAt: string | null;
  /** Its bake, once one began: see `DeploymentBake`. */
  bake: DeploymentBake | null;
}

/**
 * The bake of a deployment: after batch `batch` ended, its hosts (and those
 * of the batches before) are watched until `until`. It stays recorded once
 * over: a deployment `running` again with a bake of batch 2 has baked batch 2.
 */
export interface DeploymentBake {
  batch: number;
  until: string;
  /** Each watched host's restart count (as its agent last reported it) when the bake began, by host id. */
  restarts: Record<string, number>;
}

export type NewDeployment = Pick<
  StoredDeployment,
  'id' | 'app' | 'version' | 'env' | 'kind' | 'state' | 'strategy' | 'fromVersion' | 'createdBy'
> & {
  triggeredBy?: string | null;
  /** See `StoredDeployment.refreshVars`; false when not given. */
  refreshVars?: boolean;
  /** See `StoredDeployment.migrationsConfirmed`; false when not given. */
  migrationsConfirmed?: boolean;
  /** Why it failed, for one recorded as failed from the start (it could not begin). */
  error?: string | null;
};

/** What may change of a deployment once it exists. */
export type DeploymentPatch = Partial<
  Pick<StoredDeployment, 'state' | 'phase' | 'startedAt' | 'finishedAt' | 'error' | 'bake'>
>;

/** The one active deployment of an app in an environment, and since when it holds the lock. */
export interface DeployLock {
  app: string;
  env: string;
  deploymentId: string;
  since: string;
}

/** The release an app should run in an environment, and the deployment that set it. */
export interface DesiredRelease {
  env: string;
  app: string;
  version: number;
  deploymentId: string;
  updatedAt: string;
}

/** The conditions of `DeploymentStore.update`, and what it records with the change. */
export interface DeploymentUpdateOptions {
  /** Only while it is in one of these states (ask `deploymentStatesBefore`). */
  from?: readonly DeploymentState[];
  /**
   * Only while it is in this phase: `running` means rolling out or putting
   * hosts back, so a writer that read a rollout says so, and a person's
   * rollback that moved it meanwhile (to `running`, `reverting`) is not undone.
   */
  phase?: StoredDeployment['phase'];
  /** The environment's desired release, set with the change. */
  desired?: DesiredRelease;
  /** Installs recorded with the change (reverts, the plan of a queued one that starts). */
  installs?: NewInstall[];
  /** Their configuration snapshots, recorded with them. */
  snapshots?: readonly InstallSnapshot[];
  /**
   * Cancels, with the change, every install of the deployment no host has
   * begun (those that may move to `cancelled`), with this error: a cancel
   * leaves no moment in which the deployment is cancelled and one of its
   * installs may still be sent or told to go ahead. (Done before `installs`
   * are recorded: those recorded with the change are not cancelled.)
   */
  cancelUnstarted?: { error: string };
}

/**
 * The store's deployments: each with its installs (recorded in the same
 * transaction), the lock of its app in its environment, the lease of the
 * replica that drives it, and the desired release it sets when it ends well.
 *
 * @example
 *   const made = await store.deployments.create(deployment, installs, { lock: true, snapshots });
 *   if (!made.created) return made.holder; // another deployment of the app is under way
 *   await store.deployments.update(id, { state: 'running' }, { from: ['pending'] });
 */
export interface DeploymentStore {
  /**
   * Records a deployment with its planned installs and their configuration
   * snapshots, in one transaction. With `lock`, it first takes the app's lock in
   * its environment; when another deployment holds it, nothing is recorded (no
   * snapshot either) and the holder is returned.
   */
  create(
    deployment: NewDeployment,
    installs: NewInstall[],
    options: { lock: boolean; snapshots?: readonly InstallSnapshot[] },
  ): Promise<{ created: true } | { created: false; holder: DeployLock }>;
  get(id: string): Promise<StoredDeployment | undefined>;
  /** Deployments, newest first. */
  list(query?: {
    app?: string;
    env?: string;
    states?: DeploymentState[];
    limit?: number;
  }): Promise<StoredDeployment[]>;
  /**
   * Changes a deployment; with `from`, only while it is in one of those states
   * (ask `deploymentStatesBefore` in protocol/lifecycle.ts), and with `desired`,
   * sets that desired release in the same transaction, only if it changed.
   * With `installs` (and their `snapshots`), records them in the same
   * transaction, only if it changed: a deployment that moved meanwhile (a
   * cancel from another replica) gets none. True when it changed.
   */
  update(id: string, patch: DeploymentPatch, options?: DeploymentUpdateOptions): Promise<boolean>;
  /**
   * The deployments of these bundles, and the rollbacks that took an
   * environment away from one of them (`kind` rollback, `fromVersion` one of
   * them), oldest first, in one query: what a release report reads.
   */
  listForBundles(bundles: readonly BundleKey[]): Promise<StoredDeployment[]>;
  /** Takes the lock of an app in an environment for a deployment if it is free; returns who holds it now. */
  takeLock(app: string, env: string, deploymentId: string, at: string): Promise<DeployLock>;
  getLock(app: string, env: string): Promise<DeployLock | undefined>;
  /** Lets go of the lock, if this deployment holds it. */
  releaseLock(app: string, env: string, deploymentId: string): Promise<void>;
  /**
   * Takes or renews the lease on driving an active deployment: succeeds when the
   * lease is free, expired, or already `owner`'s. False when another replica holds it.
   */
  claimLease(id: string, owner: string, now: string, expiresAt: string): Promise<boolean>;
  /** Gives a lease up (on shutdown), so that another replica may take it at once. */
  releaseLease(id: string, owner: string): Promise<void>;
  /** Sets the release an app should run in an environment, replacing the one there. */
  setDesiredRelease(desired: DesiredRelease): Promise<void>;
  /** Desired releases by app, then environment. */
  listDesiredReleases(query?: { env?: string; app?: string }): Promise<DesiredRelease[]>;
}
