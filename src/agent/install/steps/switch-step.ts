import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { INSTALLED_MARKER, switchCurrent } from '../release-files.js';
import { type InstallStep, goingOn, passed } from './install-step.js';

/**
 * Points `current` at the new release, after writing down in the journal what
 * ran before (a re-run after a crash then still knows where to go back to). A
 * freshly installed release is first marked installed, so that it can later be
 * switched back to without an install.
 *
 * A release's configuration snapshot is written before this step, once there is one.
 */
export const switchStep: InstallStep = {
  name: 'switch',
  applies: (ctx) => (ctx.mode === 'fresh' || ctx.mode === 'reuse') && goingOn(ctx),
  async run(ctx) {
    const { job, paths, previous } = ctx;
    if (ctx.mode === 'fresh')
      await writeFile(path.join(paths.releaseDir, INSTALLED_MARKER), `${job.sha256}\n`);
    const switched = await ctx.steps.step('switch', async (context) => {
      await ctx.memory.rememberPrevious(previous);
      await switchCurrent(paths.appDir, job.version);
      context.out(
        `current -> releases/${job.version}${previous === null ? '' : ` (was ${previous})`}\n`,
      );
    });
    if (passed(ctx, switched)) ctx.switched = true;
  },
};
