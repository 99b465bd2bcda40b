import {
  mkdir,
  readFile,
  readdir,
  readlink,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import {
  type AppManifest,
  appManifestSchema,
  parseDuration,
} from '../../bundle/manifest-schema.js';
import { BUNDLE_META_FILE, type BundleMeta } from '../../bundle/bundle-meta.js';
import { commandReferences, referencedVariables } from '../../bundle/variable-references.js';
import { unpackBundle } from '../../bundle/unpack.js';
import { FerryError } from '../../protocol/errors.js';
import type { InstallJob } from '../../protocol/messages.js';
import { healthSpecFrom, waitHealthy } from '../health/health-check.js';
import type { ProcessDriver, ServiceSpec } from '../process/process-driver.js';
import type { BundleFetcher } from './bundle-fetcher.js';
import { linkShared } from './link-shared.js';
import { readReleaseSnapshot, snapshotOf, writeReleaseSnapshot } from './release-snapshot.js';
import { StepFailure, type StepReporter } from './step-reporter.js';
import { fillVariables } from './variables.js';

/** What the host gives every install: where apps live, and how commands run. */
export interface InstallHost {
  /** `<root>/apps`. */
  appsDir: string;
  /** PATH for hooks, install commands and services. */
  path: string;
  /** HOME for commands (npm keeps its cache there). */
  home: string;
  commandTimeoutMs: number;
  driver: ProcessDriver;
  fetcher: BundleFetcher;
  /** `<root>/agent/apps`: what the agent remembers of each app, such as its health check. */
  stateDir: string;
}

/**
 * Written into a release once its install commands have succeeded, with the
 * bundle's sha256: a release that has it can be switched back to without
 * fetching or installing anything (a rollback).
 */
export const INSTALLED_MARKER = '.ferry-installed';

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
}

/** How an install ended. */
export interface InstallResult {
  ok: boolean;
  rolledBack: boolean;
  error: string | null;
}

/**
 * One install, as in the design: fetch → verify → unpack → link shared → hooks
 * and install commands → switch `current` → start → health check; on a failed
 * start or check, switch back, restart the previous release and check it; then
 * prune old releases. Each step is reported with its own output.
 */
export async function runInstall(
  job: InstallJob,
  host: InstallHost,
  steps: StepReporter,
  memory: InstallMemory = { previous: undefined, rememberPrevious: () => Promise.resolve() },
): Promise<InstallResult> {
  const fail = (error: string | null, rolledBack = false): InstallResult => ({
    ok: false,
    rolledBack,
    error,
  });
  const appDir = path.join(host.appsDir, job.app);
  const releasesDir = path.join(appDir, 'releases');
  const releaseDir = path.join(releasesDir, String(job.version));
  const currentLink = path.join(appDir, 'current');
  const logsDir = path.join(appDir, 'logs', String(job.version));
  // Secrets never reach the server's records: not in echoed commands, output or errors.
  const jobSecrets = (job.secrets ?? []).flatMap((name) => job.vars[name] ?? []);
  steps.maskSecrets(jobSecrets);

  // The manifest with ${NAME} filled from the host's variables: a missing one
  // fails the install here, before anything on the host is touched.
  let manifest: AppManifest;
  let referenced: string[] = [];
  const prepared = await steps.step('prepare', (context) => {
    const parsed = appManifestSchema.extend({ role: z.string() }).parse(job.manifest);
    refuseSecretsInCommands(parsed, job.secrets ?? []);
    referenced = referencedVariables(parsed);
    manifest = fillVariables(parsed, job.vars);
    context.out(`app ${job.app}@${job.version} into ${releaseDir}\n`);
    return Promise.resolve();
  });
  if (!prepared.ok) return fail(prepared.error);
  const app = manifest!;

  const env = commandEnv(host, job, job.version, releaseDir, referenced);
  /** Runs a list of commands as one step, in `cwd` with `commandsEnv`; an empty list is no step. */
  const runnerWith =
    (commandsEnv: Record<string, string>) => (name: string, commands: string[], cwd: string) =>
      commands.length === 0
        ? Promise.resolve({ ok: true, error: null })
        : steps.step(name, async (context) => {
            for (const command of commands)
              await context.run(command, {
                cwd,
                env: commandsEnv,
                timeoutMs: host.commandTimeoutMs,
              });
          });
  const run = runnerWith(env);

  const current = await currentVersion(currentLink);
  // A re-run after a crash may find `current` switched already: the journal
  // remembers what ran before.
  const previous = memory.previous !== undefined ? memory.previous : current;
  if (memory.reverting && previous !== null && previous !== job.version) {
    // The agent stopped while going back after a failure: carry on going back.
    // Starting the new release again would repeat the outage it caused.
    const error = memory.reverting.error ?? 'the new release failed';
    const result = await goBack(
      `${error} (the agent stopped while going back and resumed doing so)`,
    );
    await pruneStep();
    return result;
  }
  if (current === job.version) {
    // Installing the running version again, or resuming after the switch.
    // release-snapshot: the release now runs with this job's configuration.
    await writeReleaseSnapshot(releaseDir, snapshotOf(job, referenced));
    const result = await startAndCheck();
    if (memory.previous !== undefined) await pruneStep();
    return finished(result);
  }
  if (await isInstalled(releaseDir, job.sha256)) {
    // The release is still on the host, installed: a rollback is a switch and a restart.
    const reused = await steps.step('reuse', (context) => {
      context.out(
        `releases/${job.version} is on this host, installed from the same bundle (sha256 ${job.sha256.slice(0, 12)}…): no fetch, no install\n`,
      );
      return Promise.resolve();
    });
    if (!reused.ok) return fail(reused.error);
    return switchAndStart(false);
  }

  let archive = '';
  const fetched = await steps.step('fetch', async (context) => {
    archive = await host.fetcher.fetch(job, context.out);
  });
  if (!fetched.ok) return fail(fetched.error);
  const verified = await steps.step('verify', (context) =>
    host.fetcher.verify(archive, job.sha256, context.out),
  );
  if (!verified.ok) return fail(verified.error);

  const unpacked = await steps.step('unpack', async (context) => {
    await mkdir(releasesDir, { recursive: true });
    await rm(releaseDir, { recursive: true, force: true });
    const meta = await unpackBundle({ archive, dest: releaseDir, expectedSha256: job.sha256 });
    context.out(`${meta.files.length} entries unpacked\n`);
  });
  if (!unpacked.ok) return fail(unpacked.error);

  const linked = await steps.step('link-shared', (context) =>
    linkShared(appDir, releaseDir, app.shared, context.out),
  );
  if (!linked.ok) return discard(linked.error);
  for (const [name, commands] of [
    ['before-install', app.hooks.beforeInstall],
    ['install', app.install],
    ['after-install', app.hooks.afterInstall],
  ] as const) {
    const outcome = await run(name, commands, releaseDir);
    if (!outcome.ok) return discard(outcome.error);
  }
  await writeFile(path.join(releaseDir, INSTALLED_MARKER), `${job.sha256}\n`);
  return switchAndStart(true);

  /** Switches `current` to the new release, starts and checks it, and prunes old releases. */
  async function switchAndStart(discardOnFailure: boolean): Promise<InstallResult> {
    const switched = await steps.step('switch', async (context) => {
      await memory.rememberPrevious(previous);
      // release-snapshot: kept with the release, so that going back to it starts it as it was.
      await writeReleaseSnapshot(releaseDir, snapshotOf(job, referenced));
      await switchCurrent(appDir, job.version);
      context.out(
        `current -> releases/${job.version}${previous === null ? '' : ` (was ${previous})`}\n`,
      );
    });
    if (!switched.ok) return discardOnFailure ? discard(switched.error) : fail(switched.error);

    const result = await startAndCheck();
    await pruneStep();
    return finished(result);
  }

  /**
   * Removes releases beyond `keepReleases`, never the new one or the previous
   * one, then the cached bundles that no release left on the host came from.
   */
  async function pruneStep(): Promise<void> {
    await steps.step('prune', async (context) => {
      await prune(releasesDir, app.keepReleases, [job.version, previous], context.out);
      await host.fetcher.prune(await installedBundles(host.appsDir), context.out);
    });
  }

  /** Remembers, after a success, how to check the app's health between installs (host facts). */
  async function finished(result: InstallResult): Promise<InstallResult> {
    if (result.ok) {
      await rememberHealth(host.stateDir, job.app, {
        version: job.version,
        health: app.health ?? null,
        cwd: currentLink,
        env,
      }).catch(() => undefined);
    }
    return result;
  }

  async function discard(error: string | null): Promise<InstallResult> {
    await rm(releaseDir, { recursive: true, force: true });
    return fail(error);
  }

  /** Starts the new release and checks it; on failure goes back to `previous`. */
  async function startAndCheck(): Promise<InstallResult> {
    const outcome = await bringUp(job.version, logsDir, 'start', 'health');
    if (outcome.ok) return { ok: true, rolledBack: false, error: null };
    if (previous === job.version) {
      // The same version again: there is nothing else to go back to, and stopping
      // what runs would only make things worse.
      return fail(outcome.error);
    }
    if (previous === null) {
      // A first install that fails: nothing to go back to, nothing left running.
      await steps.step('stop', () => host.driver.stop(job.app));
      return fail(outcome.error);
    }
    // Going back matters more than remembering it (on a full disk the journal may not take it).
    const unrecorded = await memory.rememberReverting?.(previous, outcome.error).then(
      () => null,
      (err: unknown) => (err as Error).message,
    );
    return goBack(outcome.error, unrecorded ?? null);
  }

  /** Switches `current` back to `previous`, restarts it and checks it; the install has failed with `error`. */
  async function goBack(
    error: string | null,
    unrecorded: string | null = null,
  ): Promise<InstallResult> {
    if (previous === null) return fail(error);
    const back = await steps.step('rollback', async (context) => {
      if (unrecorded !== null) context.out(`not written to the agent's journal: ${unrecorded}\n`);
      await switchCurrent(appDir, previous);
      context.out(`current -> releases/${previous}\n`);
    });
    if (!back.ok) return fail(`${error}; switching back failed: ${back.error}`);
    const previousLogs = path.join(appDir, 'logs', String(previous));
    const restored = await bringUp(previous, previousLogs, 'restart-previous', 'health-previous');
    return fail(
      restored.ok ? error : `${error}; the previous release failed too: ${restored.error}`,
      true,
    );
  }

  /** The manifest section and environment a release runs with: its own, not the new one's. */
  async function settingsOf(
    version: number,
  ): Promise<{ app: AppManifest; env: Record<string, string> }> {
    if (version === job.version) return { app, env };
    const dir = path.join(releasesDir, String(version));
    const meta = JSON.parse(await readFile(path.join(dir, BUNDLE_META_FILE), 'utf8')) as BundleMeta;
    const section = appManifestSchema
      .extend({ role: z.string() })
      .parse(meta.manifest.apps[job.app]);
    // release-snapshot: the variables that release was started with, not this job's
    // (a release from an older agent has none: then this job's are all there is).
    const snapshot = await readReleaseSnapshot(dir);
    if (snapshot)
      steps.maskSecrets([
        ...jobSecrets,
        ...snapshot.secrets.flatMap((name) => snapshot.vars[name] ?? []),
      ]);
    const vars = snapshot?.vars ?? job.vars;
    return {
      app: fillVariables(section, vars),
      env: commandEnv(host, job, version, dir, referencedVariables(section), vars),
    };
  }

  async function bringUp(version: number, logs: string, startStep: string, healthStep: string) {
    const none = { ok: true, error: null };
    let settings: { app: AppManifest; env: Record<string, string> };
    try {
      settings = await settingsOf(version);
    } catch (err) {
      return {
        ok: false,
        error: `cannot read release ${version}'s settings: ${(err as Error).message}`,
      };
    }
    const { app, env } = settings;
    const run = runnerWith(env);
    const before = await run(
      `${startStep === 'start' ? '' : 'previous-'}before-start`,
      app.hooks.beforeStart,
      currentLink,
    );
    if (!before.ok) return before;
    if (app.service) {
      const service = app.service;
      const spec: ServiceSpec = {
        name: job.app,
        cwd: currentLink,
        command: service.command,
        env: { ...env, FERRY_VERSION: String(version), ...service.env },
        stdoutFile: path.join(logs, 'service.stdout.log'),
        stderrFile: path.join(logs, 'service.stderr.log'),
        stopSignal: service.stopSignal,
        stopTimeoutMs: parseDuration(service.stopTimeout),
      };
      const started = await steps.step(startStep, async (context) => {
        await mkdir(logs, { recursive: true });
        await host.driver.restart(spec);
        context.out(`${service.command}\nstdout: ${spec.stdoutFile}\nstderr: ${spec.stderrFile}\n`);
      });
      if (!started.ok) return started;
    }
    if (app.health) {
      const spec = healthSpecFrom(app.health);
      const checked = await steps.step(healthStep, async (context) => {
        const result = await waitHealthy(spec, { cwd: currentLink, env });
        context.out(`${result.attempts} attempts in ${result.elapsedMs} ms\n`);
        if (!result.ok)
          throw new StepFailure(`health check failed: ${result.lastFailure ?? 'no answer'}`);
      });
      if (!checked.ok) return checked;
    }
    if (startStep !== 'start') return none;
    const after = await run('after-start', app.hooks.afterStart, currentLink);
    if (!after.ok) return after;
    return run('validate', app.hooks.validate, currentLink);
  }
}

/**
 * The environment of hooks, commands, health commands and (with its
 * `service.env` on top) the service: explicit, never a login shell's. The base
 * (PATH, HOME, LANG and the `FERRY_*` facts of the release) and the variables
 * the release's own manifest section refers to as `${NAME}` — not every
 * variable in scope, which would hand each app the other apps' secrets.
 */
function commandEnv(
  host: InstallHost,
  job: InstallJob,
  version: number,
  releaseDir: string,
  referenced: string[],
  vars: Record<string, string> = job.vars,
): Record<string, string> {
  const used = Object.fromEntries(
    referenced.flatMap((name) => {
      const value = vars[name];
      return value === undefined ? [] : [[name, value]];
    }),
  );
  return {
    PATH: host.path,
    HOME: host.home,
    LANG: 'C.UTF-8',
    ...used,
    FERRY_APP: job.app,
    FERRY_VERSION: String(version),
    FERRY_RELEASE_DIR: releaseDir,
  };
}

/**
 * The agent's own check of what the server refuses at deploy time: a secret
 * filled into a command line would be in the process's arguments (`ps`).
 */
function refuseSecretsInCommands(section: Record<string, unknown>, secrets: string[]): void {
  const secret = new Set(secrets);
  const found = commandReferences(section).filter((r) => secret.has(r.variable));
  if (found.length === 0) return;
  throw new FerryError(
    'E_SECRET_IN_COMMAND',
    `The manifest puts secret variables into command lines: ${found
      .map((r) => `\${${r.variable}} in ${r.where}`)
      .join(', ')}; pass them through service.env instead`,
    { secrets: found },
  );
}

/** True when a release folder holds a complete install of the bundle with this sha256. */
async function isInstalled(releaseDir: string, sha256: string): Promise<boolean> {
  try {
    return (await readFile(path.join(releaseDir, INSTALLED_MARKER), 'utf8')).trim() === sha256;
  } catch {
    return false;
  }
}

/** What the agent keeps of an app's health check, to probe it between installs. */
export interface RememberedHealth {
  version: number;
  /** The manifest's health section with its variables filled; null when it has none. */
  health: AppManifest['health'] | null;
  cwd: string;
  /** The environment of a `command` check, as during the install (kept mode 0600: it may hold secrets). */
  env: Record<string, string>;
}

/** The file an app's remembered health check is kept in. */
export function healthFile(stateDir: string, app: string): string {
  return path.join(stateDir, `${app}.health.json`);
}

async function rememberHealth(
  stateDir: string,
  app: string,
  health: RememberedHealth,
): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const file = healthFile(stateDir, app);
  await writeFile(`${file}.partial`, JSON.stringify(health), { mode: 0o600 });
  await rename(`${file}.partial`, file);
}

/** The version `current` points at, or null. */
export async function currentVersion(currentLink: string): Promise<number | null> {
  try {
    const target = await readlink(currentLink);
    const version = Number(path.basename(target));
    return Number.isInteger(version) ? version : null;
  } catch {
    return null;
  }
}

/** Points `current` at a release with one atomic rename. */
async function switchCurrent(appDir: string, version: number): Promise<void> {
  const temp = path.join(appDir, `.current-${process.pid}`);
  await rm(temp, { force: true });
  await symlink(path.join('releases', String(version)), temp);
  await rename(temp, path.join(appDir, 'current'));
}

/** The sha256 of the bundle of every installed release on the host, of every app. */
async function installedBundles(appsDir: string): Promise<Set<string>> {
  const installed = new Set<string>();
  for (const app of await readdir(appsDir).catch(() => [])) {
    const releasesDir = path.join(appsDir, app, 'releases');
    for (const version of await readdir(releasesDir).catch(() => [])) {
      const marker = path.join(releasesDir, version, INSTALLED_MARKER);
      const sha256 = (await readFile(marker, 'utf8').catch(() => '')).trim();
      if (sha256 !== '') installed.add(sha256);
    }
  }
  return installed;
}

/** Removes releases beyond the newest `keep`, never those in `protect`. */
async function prune(
  releasesDir: string,
  keep: number,
  protect: (number | null)[],
  say: (t: string) => void,
): Promise<void> {
  const versions = (await readdir(releasesDir))
    .map(Number)
    .filter((v) => Number.isInteger(v))
    .sort((a, b) => b - a);
  for (const version of versions.slice(keep)) {
    if (protect.includes(version)) continue;
    await rm(path.join(releasesDir, String(version)), { recursive: true, force: true });
    say(`removed releases/${version}\n`);
  }
}
