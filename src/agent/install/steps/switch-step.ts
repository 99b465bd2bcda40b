import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { INSTALLED_MARKER, switchCurrent } from '../release-files.js';
import { snapshotOf, stageReleaseSnapshot } from '../release-snapshot.js';
import { type InstallStep, goingOn, passed } from './install-step.js';

/**
 * Points `current` at the new release, after writing down in the journal what
 * ran before (a re-run after a crash then still knows where to go back to). A
 * freshly installed release is first marked installed, so that it can later be
 * switched back to without an install. The release keeps this job's
 * configuration snapshot — written in full before the switch, made the
 * release's once the switch succeeded — so that going back to it later starts
 * it as it was.
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
      const snapshot = await stageReleaseSnapshot(
        paths.releaseDir,
        snapshotOf(job, ctx.referenced),
      );
      try {
        await switchCurrent(paths.appDir, job.version);
      } catch (err) {
        await snapshot.discard();
        throw err;
      }
      // Only now the release's: the server counts a switch that failed as not
      // having started it, and the host must agree on what it last ran with.
      await snapshot.commit();
      context.out(
        `current -> releases/${job.version}${previous === null ? '' : ` (was ${previous})`}\n`,
      );
    });
    if (passed(ctx, switched)) ctx.switched = true;
  },
};
