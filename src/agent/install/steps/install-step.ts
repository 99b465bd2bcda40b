import type { KeyObject } from 'node:crypto';
import path from 'node:path';
import type { AppManifest } from '../../../bundle/manifest-schema.js';
import type { Runtimes } from '../../../protocol/host-facts.js';
import type { InstallJob } from '../../../protocol/messages.js';
import type { ProcessDriver } from '../../process/process-driver.js';
import type { BundleFetcher } from '../bundle-fetcher.js';
import type { StepOutcome, StepReporter } from '../step-reporter.js';

/** What the host gives every install: where apps live, and how commands run. */
export interface InstallHost {
  /** The host's name, as enrolled: messages about this host name it. */
  name: string;
  /** `<root>/apps`. */
  appsDir: string;
  /** PATH for hooks, install commands and services. */
  path: string;
  /** HOME for commands (npm keeps its cache there). */
  home: string;
  commandTimeoutMs: number;
  driver: ProcessDriver;
  fetcher: BundleFetcher;
  /** The server's bundle-signing public key: every bundle is checked with it before it is unpacked. */
  signingKey: () => Promise<KeyObject>;
  /** `<root>/agent/apps`: what the agent remembers of each app, such as its health check. */
  stateDir: string;
  /**
   * The versions of the runtimes on `path`, from the agent's runtime probe (what
   * its facts report); without it, an install asks the runtimes itself.
   */
  runtimes?: () => Promise<Runtimes>;
}

/**
 * What an install keeps in the agent's journal across a crash: the release that
 * ran before it, written just before `current` is switched. A re-run that finds
 * `current` already on the new version then still knows where to go back to.
 */
export interface InstallMemory {
  previous: number | null | undefined;
  rememberPrevious(previous: number | null): Promise<void>;
  /**
   * Set when the install had failed and was going back to `previous` when the
   * agent stopped: a re-run goes on going back instead of trying the new release again.
   */
  reverting?: { error: string | null } | undefined;
  /** Written just before going back, with why. */
  rememberReverting?(previous: number | null, error: string | null): Promise<void>;
  /**
   * How far this job got with its migrations when the agent stopped: a resumed
   * job never runs them a second time (`migrate-step.ts`).
   */
  migration?: MigrationMark | undefined;
  /** Written before the migrations run, and after they succeeded. */
  rememberMigration?(migration: MigrationMark): Promise<void>;
}

/**
 * What the journal says of a job's migrations: `began` is written before the
 * first command runs, `succeeded` once they all have.
 */
export type MigrationMark = 'began' | 'succeeded';

/** How an install ended. */
export interface InstallResult {
  ok: boolean;
  rolledBack: boolean;
  error: string | null;
}

/**
 * Which way an install goes, decided by `prepare` from what is on the host:
 *
 * - `fresh`: fetch, unpack and install the release;
 * - `reuse`: the release is on the host, installed from the same bundle (a
 *   rollback): switch and start, no fetch and no install;
 * - `restart`: `current` is on the version already (the same version again, or
 *   a re-run after the switch): start and check;
 * - `resume-revert`: the agent stopped while going back after a failure: go on going back.
 */
export type InstallMode = 'fresh' | 'reuse' | 'restart' | 'resume-revert';

/** The folders of one install. */
export interface InstallPaths {
  /** `<root>/apps/<app>`. */
  appDir: string;
  releasesDir: string;
  /** The new release: `releases/<version>`. */
  releaseDir: string;
  currentLink: string;
  /** The new release's logs: `logs/<version>`. */
  logsDir: string;
}

/**
 * What the steps of one install share: the job and the host, and what the
 * steps found out so far. A step reads what earlier steps left and writes what
 * later ones need; `failure` set means the install has failed.
 */
export interface InstallContext {
  readonly job: InstallJob;
  readonly host: InstallHost;
  readonly steps: StepReporter;
  readonly memory: InstallMemory;
  readonly paths: InstallPaths;
  /** The manifest section with `${NAME}` filled (set by `prepare`). */
  manifest: AppManifest;
  /** The variables the manifest section refers to (set by `prepare`). */
  referenced: string[];
  /** The environment of the new release's commands (set by `prepare`). */
  env: Record<string, string>;
  mode: InstallMode;
  /** What `current` pointed at when the install began. */
  current: number | null;
  /** The release to go back to: what ran before this install (from the journal on a re-run). */
  previous: number | null;
  /** The fetched bundle file (set by `fetch`). */
  archive: string;
  /** The sha256 of the fetched bundle's bytes, hashed once as they were downloaded (set by `fetch`). */
  archiveSha256: string;
  /** True once the new release folder was made by this install: a failure before the switch removes it. */
  unpacked: boolean;
  /** True once `current` points at the new release. */
  switched: boolean;
  /** Set when the new release failed to start or pass its check: the revert step goes back. */
  revertFor: { error: string | null; unrecorded: string | null } | undefined;
  /** Set when the install has failed, with why. */
  failure: { error: string | null } | undefined;
  /** True when the install went back to the previous release. */
  rolledBack: boolean;
  /**
   * Where the last started release's logs ended just before its service
   * started (set by `startRelease`): the `service-output` step reads from
   * there, so that it records only what this start wrote, never an earlier
   * start's output (the logs are appended to, per version). `null` for a log
   * whose size could not be read.
   */
  serviceLogStart?: ServiceLogStart | undefined;
}

/** The sizes of a release's service logs just before one start of its service. */
export interface ServiceLogStart {
  version: number;
  stdout: number | null;
  stderr: number | null;
}

/**
 * One step of an install, as `runInstall` runs them in order: `applies` says
 * whether the step has anything to do in this install (a failed install skips
 * the steps after the failure, a rollback skips fetching), `run` does it and
 * reports it through `ctx.steps`.
 *
 * @example
 * export const fetchStep: InstallStep = {
 *   name: 'fetch',
 *   applies: (ctx) => ctx.mode === 'fresh' && ctx.failure === undefined,
 *   run: async (ctx) => { ... },
 * };
 */
export interface InstallStep {
  /** The step's name, as reported (some steps report several: `install` runs the install hooks too). */
  readonly name: string;
  applies(ctx: InstallContext): boolean;
  run(ctx: InstallContext): Promise<void>;
}

/** A new install's context, before `prepare` ran. */
export function newInstallContext(
  job: InstallJob,
  host: InstallHost,
  steps: StepReporter,
  memory: InstallMemory,
): InstallContext {
  const appDir = path.join(host.appsDir, job.app);
  const releasesDir = path.join(appDir, 'releases');
  return {
    job,
    host,
    steps,
    memory,
    paths: {
      appDir,
      releasesDir,
      releaseDir: path.join(releasesDir, String(job.version)),
      currentLink: path.join(appDir, 'current'),
      logsDir: path.join(appDir, 'logs', String(job.version)),
    },
    // Filled by `prepare`, the first step, which every install runs.
    manifest: undefined as unknown as AppManifest,
    referenced: [],
    env: {},
    mode: 'fresh',
    current: null,
    previous: null,
    archive: '',
    archiveSha256: '',
    unpacked: false,
    switched: false,
    revertFor: undefined,
    failure: undefined,
    rolledBack: false,
    serviceLogStart: undefined,
  };
}

/** Records a step's failure in the context; true when the step went well. */
export function passed(ctx: InstallContext, outcome: StepOutcome): boolean {
  if (!outcome.ok) ctx.failure = { error: outcome.error };
  return outcome.ok;
}

/** True while the install goes on forward: nothing failed, nothing to go back from. */
export function goingOn(ctx: InstallContext): boolean {
  return ctx.failure === undefined && ctx.revertFor === undefined;
}
