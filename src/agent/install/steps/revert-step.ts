import { switchCurrent } from '../release-files.js';
import { releaseSettings } from '../release-settings.js';
import type { StepOutcome } from '../step-reporter.js';
import { checkRelease } from './health-step.js';
import { type InstallContext, type InstallStep } from './install-step.js';
import { startRelease } from './start-step.js';

/**
 * The new release failed to start or pass its check (or the agent stopped
 * while going back and resumed): switches `current` back to the previous
 * release, restarts it with its own settings and checks it. The install has
 * failed either way; it says whether the previous release came back.
 */
export const revertStep: InstallStep = {
  name: 'revert',
  applies: (ctx) =>
    ctx.failure === undefined && (ctx.revertFor !== undefined || ctx.mode === 'resume-revert'),
  async run(ctx) {
    const resumed = ctx.revertFor === undefined;
    const error = resumed
      ? `${ctx.memory.reverting?.error ?? 'the new release failed'} (the agent stopped while going back and resumed doing so)`
      : ctx.revertFor!.error;
    const unrecorded = ctx.revertFor?.unrecorded ?? null;
    const previous = ctx.previous;
    if (previous === null) {
      ctx.failure = { error };
      return;
    }
    const back = await ctx.steps.step('rollback', async (context) => {
      if (unrecorded !== null) context.out(`not written to the agent's journal: ${unrecorded}\n`);
      await switchCurrent(ctx.paths.appDir, previous);
      context.out(`current -> releases/${previous}\n`);
    });
    if (!back.ok) {
      ctx.failure = { error: `${error}; switching back failed: ${back.error}` };
      return;
    }
    const restored = await bringBack(ctx, previous);
    ctx.rolledBack = true;
    ctx.failure = {
      error: restored.ok ? error : `${error}; the previous release failed too: ${restored.error}`,
    };
  },
};

/** Restarts the previous release with its own settings and checks it. */
async function bringBack(ctx: InstallContext, previous: number): Promise<StepOutcome> {
  let settings;
  try {
    settings = await releaseSettings(ctx, previous);
  } catch (err) {
    return {
      ok: false,
      error: `cannot read release ${previous}'s settings: ${(err as Error).message}`,
    };
  }
  const started = await startRelease(ctx, previous, settings, {
    beforeStart: 'previous-before-start',
    start: 'restart-previous',
  });
  if (!started.ok) return started;
  return checkRelease(ctx, settings, 'health-previous', previous);
}
