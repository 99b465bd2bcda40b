import { mkdir, stat } from 'node:fs/promises';
import { parseDuration } from '../../../bundle/manifest-schema.js';
import type { ServiceSpec } from '../../process/process-driver.js';
import { type ReleaseSettings, releaseSettings } from '../release-settings.js';
import { serviceLogs } from '../service-logs.js';
import { snapshotOf, writeReleaseSnapshot } from '../release-snapshot.js';
import type { StepOutcome } from '../step-reporter.js';
import { type InstallContext, type InstallStep, goingOn } from './install-step.js';
import { runCommands } from './run-commands.js';

/** The names a release's start is reported under: the new one's, or the previous one's when going back. */
export interface StartNames {
  beforeStart: string;
  start: string;
}

/**
 * Runs a release's `beforeStart` hooks in `current` and (re)starts its service
 * through the process driver, with the release's own settings.
 */
export async function startRelease(
  ctx: InstallContext,
  version: number,
  settings: ReleaseSettings,
  names: StartNames,
): Promise<StepOutcome> {
  const { job, host, paths } = ctx;
  const { app, env } = settings;
  const before = await runCommands(
    ctx,
    names.beforeStart,
    app.hooks.beforeStart,
    paths.currentLink,
    env,
  );
  if (!before.ok || !app.service) return before;
  const service = app.service;
  const logs = serviceLogs(paths.appDir, version);
  const spec: ServiceSpec = {
    name: job.app,
    cwd: paths.currentLink,
    command: service.command,
    env: { ...env, FERRY_VERSION: String(version), ...service.env },
    stdoutFile: logs.stdoutFile,
    stderrFile: logs.stderrFile,
    stopSignal: service.stopSignal,
    stopTimeoutMs: parseDuration(service.stopTimeout),
  };
  return ctx.steps.step(names.start, async (context) => {
    await mkdir(logs.dir, { recursive: true });
    // The logs are appended to: what is in them now was written by an earlier start.
    ctx.serviceLogStart = {
      version,
      stdout: await sizeOf(logs.stdoutFile),
      stderr: await sizeOf(logs.stderrFile),
    };
    await host.driver.restart(spec);
    context.out(`${service.command}\nstdout: ${spec.stdoutFile}\nstderr: ${spec.stderrFile}\n`);
  });
}

/** A file's size; 0 when there is no file yet; null when it cannot be known. */
async function sizeOf(file: string): Promise<number | null> {
  try {
    return (await stat(file)).size;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 0 : null;
  }
}

/**
 * The new release failed to start or pass its check: decides whether and how
 * the install goes back. The same version again has nothing else to go back to
 * (and stopping what runs would only make things worse); a first install stops
 * what it started; otherwise the revert step goes back to `previous`.
 */
export async function newReleaseFailed(ctx: InstallContext, error: string | null): Promise<void> {
  const { job, previous } = ctx;
  if (previous === job.version) {
    ctx.failure = { error };
    return;
  }
  if (previous === null) {
    // A first install that fails: nothing to go back to, nothing left running.
    await ctx.steps.step('stop', () => ctx.host.driver.stop(job.app));
    ctx.failure = { error };
    return;
  }
  // Going back matters more than remembering it (on a full disk the journal may not take it).
  const unrecorded = await ctx.memory.rememberReverting?.(previous, error).then(
    () => null,
    (err: unknown) => (err as Error).message,
  );
  ctx.revertFor = { error, unrecorded: unrecorded ?? null };
}

/** Starts the new release (its `beforeStart` hooks, then its service). */
export const startStep: InstallStep = {
  name: 'start',
  applies: (ctx) => ctx.mode !== 'resume-revert' && goingOn(ctx),
  async run(ctx) {
    const version = ctx.job.version;
    // The same version again runs with this job's configuration from now on:
    // going back to it later must start it the same way.
    if (ctx.mode === 'restart')
      await writeReleaseSnapshot(ctx.paths.releaseDir, snapshotOf(ctx.job, ctx.referenced));
    const started = await startRelease(ctx, version, await releaseSettings(ctx, version), {
      beforeStart: 'before-start',
      start: 'start',
    });
    if (!started.ok) await newReleaseFailed(ctx, started.error);
  },
};
