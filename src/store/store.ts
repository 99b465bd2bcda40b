import type {
  DeploymentKind,
  DeploymentState,
  StrategyRecord,
} from '../protocol/deployment-api.js';

import type { BundleStore } from './bundle-store.js';
import type { TokenStore } from './token-store.js';
import type { OutboxStore } from './outbox-store.js';
import type { EnvironmentStore } from './environment-store.js';
import type { HostStore } from './host-store.js';
import type { VariableStore } from './variable-store.js';
import type { VerdictStore } from './verdict-store.js';
import type { HistoryStore } from './history-store.js';
import type { EventStore } from './event-store.js';
import type { InstallSnapshot, InstallStore, NewInstall } from './install-store.js';

export type { BundleStore, NewBundle, RecordedBundle } from './bundle-store.js';
export type { NewToken, StoredToken, TokenStore } from './token-store.js';
export type { OutboxMessage, OutboxStore } from './outbox-store.js';
export type { EnvironmentStore } from './environment-store.js';
export type { FactsRetention, HostStore, NewHost } from './host-store.js';
export type { StoredVariable, VariableScope, VariableStore } from './variable-store.js';
export type { VerdictStore } from './verdict-store.js';
export type { HistoryEvent, HistoryStore } from './history-store.js';
export type { EventStore } from './event-store.js';
export type {
  ConfigSnapshot,
  InstallOutcome,
  InstallPatch,
  InstallQuery,
  InstallSnapshot,
  InstallStore,
  NewInstall,
  StepReport,
  StoredInstall,
} from './install-store.js';

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
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  error: string | null;
  leaseOwner: string | null;
  leaseExpiresAt: string | null;
}

export type NewDeployment = Pick<
  StoredDeployment,
  'id' | 'app' | 'version' | 'env' | 'kind' | 'state' | 'strategy' | 'fromVersion' | 'createdBy'
> & {
  triggeredBy?: string | null;
  /** See `StoredDeployment.refreshVars`; false when not given. */
  refreshVars?: boolean;
  /** Why it failed, for one recorded as failed from the start (it could not begin). */
  error?: string | null;
};

/** What may change of a deployment once it exists. */
export type DeploymentPatch = Partial<
  Pick<StoredDeployment, 'state' | 'phase' | 'startedAt' | 'finishedAt' | 'error'>
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

/**
 * The server's metadata store. Domain code depends on this interface only; the
 * adapters (SQLite, PostgreSQL) pass one contract suite.
 */
export interface Store {
  /** Brings the schema up to date; safe to call on every start. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  readonly bundles: BundleStore;
  readonly tokens: TokenStore;
  readonly outbox: OutboxStore;
  readonly environments: EnvironmentStore;
  readonly hosts: HostStore;
  readonly installs: InstallStore;
  readonly variables: VariableStore;
  readonly verdicts: VerdictStore;
  readonly history: HistoryStore;
  readonly events: EventStore;

  /**
   * Records a deployment with its planned installs and their configuration
   * snapshots, in one transaction. With `lock`, it first takes the app's lock in
   * its environment; when another deployment holds it, nothing is recorded (no
   * snapshot either) and the holder is returned.
   */
  createDeployment(
    deployment: NewDeployment,
    installs: NewInstall[],
    options: { lock: boolean; snapshots?: readonly InstallSnapshot[] },
  ): Promise<{ created: true } | { created: false; holder: DeployLock }>;
  getDeployment(id: string): Promise<StoredDeployment | undefined>;
  /** Deployments, newest first. */
  listDeployments(query?: {
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
  updateDeployment(
    id: string,
    patch: DeploymentPatch,
    options?: DeploymentUpdateOptions,
  ): Promise<boolean>;
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

  setDesiredRelease(desired: DesiredRelease): Promise<void>;
  listDesiredReleases(query?: { env?: string; app?: string }): Promise<DesiredRelease[]>;
}

/** The conditions of `Store.updateDeployment`, and what it records with the change. */
export interface DeploymentUpdateOptions {
  /** Only while it is in one of these states (ask `deploymentStatesBefore`). */
  from?: readonly DeploymentState[];
  /** The environment's desired release, set with the change. */
  desired?: DesiredRelease;
  /** Installs recorded with the change (reverts, the plan of a queued one that starts). */
  installs?: NewInstall[];
  /** Their configuration snapshots, recorded with them. */
  snapshots?: readonly InstallSnapshot[];
}
