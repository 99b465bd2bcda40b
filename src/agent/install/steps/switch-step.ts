import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { INSTALLED_MARKER, switchCurrent } from '../release-files.js';
import { snapshotOf, writeReleaseSnapshot } from '../release-snapshot.js';
import { type InstallStep, goingOn, passed } from './install-step.js';

/**
 * Points `current` at the new release, after writing down in the journal what
 * ran before (a re-run after a crash then still knows where to go back to). A
 * freshly installed release is first marked installed, so that it can later be
 * switched back to without an install. The release keeps this job's
 * configuration snapshot, written before the switch, so that going back to it
 * later starts it as it was.
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
      await writeReleaseSnapshot(paths.releaseDir, snapshotOf(job, ctx.referenced));
      await switchCurrent(paths.appDir, job.version);
      context.out(
        `current -> releases/${job.version}${previous === null ? '' : ` (was ${previous})`}\n`,
      );
    });
    if (passed(ctx, switched)) ctx.switched = true;
  },
};
