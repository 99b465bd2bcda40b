import { mkdir, rename, writeFile } from 'node:fs/promises';
import { healthSpecFrom, waitHealthy } from '../../health/health-check.js';
import type { ReleaseSettings } from '../release-settings.js';
import { StepFailure, type StepOutcome } from '../step-reporter.js';
import { type InstallContext, type InstallStep, goingOn } from './install-step.js';
import { newReleaseFailed } from './start-step.js';
import { runCommands } from './run-commands.js';
import { recordServiceOutput } from './service-output-step.js';
import { whoAnswered } from './who-answered.js';
import { healthFile, type RememberedHealth } from '../remembered-health.js';

/**
 * Checks the health of release `version`, just started (HTTP, TCP or command,
 * with its timeout and retries), as step `name`; a check answered by another
 * release of the app fails (see `whoAnswered`).
 */
export async function checkRelease(
  ctx: InstallContext,
  settings: ReleaseSettings,
  name: string,
  version: number,
): Promise<StepOutcome> {
  const { health } = settings.app;
  if (!health) return { ok: true, error: null };
  const spec = healthSpecFrom(health);
  return ctx.steps.step(name, async (context) => {
    const result = await waitHealthy(spec, { cwd: ctx.paths.currentLink, env: settings.env });
    context.out(`${result.attempts} attempts in ${result.elapsedMs} ms\n`);
    if (!result.ok)
      throw new StepFailure(`health check failed: ${result.lastFailure ?? 'no answer'}`);
    const answerer = await whoAnswered(ctx, spec, version);
    if (answerer.note !== null) context.out(`${answerer.note}\n`);
    if (answerer.failure !== null)
      throw new StepFailure(`health check failed: ${answerer.failure}`);
  });
}

/**
 * Checks the new release's health, then runs its `afterStart` and `validate`
 * hooks; a failure sends the install back to the previous release. On success
 * the agent remembers how to check the app between installs (host facts).
 */
export const healthStep: InstallStep = {
  name: 'health',
  applies: (ctx) => ctx.mode !== 'resume-revert' && goingOn(ctx),
  async run(ctx) {
    const settings = { app: ctx.manifest, env: ctx.env };
    const cwd = ctx.paths.currentLink;
    for (const check of [
      () => checkRelease(ctx, settings, 'health', ctx.job.version),
      // What the service printed in its first seconds, for the report: it never fails the install.
      () => recordServiceOutput(ctx).then(passed, passed),
      () => runCommands(ctx, 'after-start', ctx.manifest.hooks.afterStart, cwd, ctx.env),
      () => runCommands(ctx, 'validate', ctx.manifest.hooks.validate, cwd, ctx.env),
    ]) {
      const outcome = await check();
      if (!outcome.ok) return newReleaseFailed(ctx, outcome.error);
    }
    await rememberHealth(ctx.host.stateDir, ctx.job.app, {
      version: ctx.job.version,
      health: ctx.manifest.health ?? null,
      cwd,
      env: ctx.env,
    }).catch(() => undefined);
  },
};

const passed = (): StepOutcome => ({ ok: true, error: null });

export { healthFile, type RememberedHealth } from '../remembered-health.js';

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
