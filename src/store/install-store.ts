import type {
  InstallLogs,
  InstallPurpose,
  InstallRecord,
  InstallState,
  InstallStep,
  StepLog,
} from '../protocol/api.js';
import type { BundleKey } from '../protocol/note-api.js';

export interface NewInstall {
  id: string;
  hostId: string;
  app: string;
  version: number;
  createdBy: string;
  /** The deployment it belongs to; none for a single `ferry install`. */
  deploymentId?: string | null;
  purpose?: InstallPurpose;
  /** Its batch in the deployment's rollout, from 0. */
  batch?: number | null;
  fromVersion?: number | null;
  /** `queued` (the default: about to be sent), `pending` (planned), or `failed` (refused before sending). */
  state?: 'pending' | 'queued' | 'failed';
  error?: string | null;
}

/** An install as the store keeps it: the API's record, with when its job was sent and its batch. */
export interface StoredInstall extends InstallRecord {
  batch: number | null;
  sentAt: string | null;
}

/** An install without its steps: which host, app and version, and where it stands. */
export type InstallHead = Pick<StoredInstall, 'id' | 'hostId' | 'app' | 'version' | 'state'>;

/** Which installs to list; every given field must match. */
export interface InstallQuery {
  /** The installs of this deployment; null: those of none (`ferry install`). */
  deploymentId?: string | null;
  hostId?: string;
  app?: string;
  version?: number;
  states?: InstallState[];
  /** Newest first, at most this many. */
  limit?: number;
  /**
   * False: the records' steps are not read, and each is given with none — for
   * a reader that needs only the installs themselves (the rollout driver each
   * tick, which read a thousand hosts' steps on every install's end).
   */
  steps?: boolean;
}

/**
 * What one write to an install changed, as the write's own transaction found
 * it: what the evented store publishes, with no read before or after the write.
 */
export interface InstallChange {
  /** The install after the write, without its steps. */
  install: StoredInstall;
  /** Whether the write moved the install to another state (an install.state event). */
  stateChanged: boolean;
  /** The steps the write started, started again or ended, as they are after it (install.step events). */
  steps: InstallStep[];
}

/** What an agent reported of one step, as the store records it. */
export type StepReport =
  | { kind: 'started'; step: string; at: string }
  | { kind: 'output'; step: string; stream: 'stdout' | 'stderr'; seq: number; text: string }
  | {
      kind: 'finished';
      step: string;
      ok: boolean;
      exitCode: number | null;
      durationMs: number;
      error: string | null;
      at: string;
    };

/** An install's configuration snapshot, as it is recorded. */
export interface InstallSnapshot {
  installId: string;
  snapshot: ConfigSnapshot;
}

/**
 * The configuration a deployment froze for one host: the variables the app's
 * manifest uses, with their values, and which of them are secret. Never send
 * this to a client as it is: secret values must be masked.
 */
export interface ConfigSnapshot {
  vars: Record<string, string>;
  secrets: string[];
}

/** How an install ended, as its host reports it. */
export interface InstallOutcome {
  ok: boolean;
  rolledBack: boolean;
  error: string | null;
  at: string;
}

/** What `InstallStore.mark` changes of an install. */
export interface InstallPatch {
  state: InstallState;
  error?: string | null;
  sentAt?: string;
  /** Kept whatever becomes of the install: a host that began a job has it. */
  startedAt?: string;
  finishedAt?: string;
}

/**
 * The store's installs: the job on one host that brings one bundle in, with
 * its steps, their output, and the configuration snapshot it was sent with.
 * A deployment's own installs are recorded with it (`DeploymentStore`); a
 * single `ferry install`, reverts and catch-ups are recorded here.
 *
 * @example
 *   const [latest] = await store.installs.list({ hostId, app: 'cart', limit: 1 });
 *   await store.installs.mark(latest.id, { state: 'cancelled' }, ['pending', 'queued']);
 */
export interface InstallStore {
  create(install: NewInstall): Promise<void>;
  /** Records installs planned or refused outside `DeploymentStore.create` (reverts, catch-ups). */
  createMany(installs: NewInstall[]): Promise<void>;
  /** One install; with `steps: false`, given with none (they are not read). */
  get(id: string, options?: { steps?: boolean }): Promise<StoredInstall | undefined>;
  /** Installs with their steps, newest first. */
  list(query: InstallQuery): Promise<StoredInstall[]>;
  /**
   * The newest install of each host and app (of each host, app and version,
   * with `perVersion`) among those in `states` (any state when not given), of
   * one app or of all, in one query and without steps: what `status` shows of
   * every host at once. Newest in `list`'s order: the latest made, and of two
   * made at the same moment, the lower id. The same as `list({ hostId, app,
   * version, states, limit: 1 })` for every pair, in one query instead of one each.
   */
  listNewest(query?: {
    app?: string;
    states?: readonly InstallState[];
    perVersion?: boolean;
  }): Promise<InstallHead[]>;
  /**
   * Moves an install to another state, only if it is in one of `from`; false when
   * it was not (someone else moved it first).
   */
  mark(id: string, patch: InstallPatch, from: InstallState[]): Promise<boolean>;
  /**
   * Records one step report; a report delivered twice is recorded once. Gives
   * what a start or an end changed (undefined for output, and for an install
   * that does not exist): a repeated report changes nothing. With `hostId`, a
   * start or an end is recorded only on that host's install (undefined for
   * another's: one host does not write another's records), checked in the
   * write's own transaction, so its reporter needs no read before it.
   */
  recordStep(
    installId: string,
    report: StepReport,
    hostId?: string,
  ): Promise<InstallChange | undefined>;
  /**
   * Records the end its host reports; a repeated report changes nothing. Gives
   * the install as it is then (undefined when it does not exist).
   */
  finish(installId: string, outcome: InstallOutcome): Promise<InstallChange | undefined>;
  logs(installId: string): Promise<InstallLogs | undefined>;
  /**
   * Records the configuration installs are sent with (secrets sealed at rest).
   * An install keeps the first snapshot recorded for it: saving one again changes nothing.
   */
  saveSnapshots(snapshots: readonly InstallSnapshot[]): Promise<void>;
  /** The configuration an install was made with, or undefined when none was recorded. */
  getSnapshot(installId: string): Promise<ConfigSnapshot | undefined>;

  /**
   * The installs of a release, with their steps, oldest first, in a fixed
   * number of queries: those of the given bundles, and those of the given
   * deployments (reverts and rollbacks, whose version is another).
   */
  listForRelease(query: {
    bundles: readonly BundleKey[];
    deploymentIds: readonly string[];
  }): Promise<StoredInstall[]>;
  /**
   * The output a release report reads of many installs, in a fixed number of
   * queries and bounded whatever was stored: per step, the first
   * `headChars` of each stream, and for a failed step also the last
   * `tailChars` (where its error is). An unknown id has none.
   */
  logsForReport(installIds: readonly string[], bounds: OutputBounds): Promise<ReportInstallLogs[]>;
  /** The configuration snapshots of many installs at once; an install without one is left out. */
  getSnapshots(installIds: readonly string[]): Promise<InstallSnapshot[]>;
}

/** How much of each stream of a step's output a report reads, in characters. */
export interface OutputBounds {
  /** From the start of each stream of every step. */
  headChars: number;
  /** From the end of each stream of a failed step. */
  tailChars: number;
}

/**
 * A step's output as a release report reads it: `stdout` and `stderr` hold at
 * most the first `headChars` of each stream; `tail`, only for a failed step,
 * at most the last `tailChars`.
 */
export interface ReportStepLog extends StepLog {
  tail?: { stdout: string; stderr: string } | null;
}

/** The bounded output of one install's steps, in order (`InstallStore.logsForReport`). */
export interface ReportInstallLogs {
  installId: string;
  steps: ReportStepLog[];
}
