import { mkdir, rm } from 'node:fs/promises';
import { unpackBundle } from '../../../bundle/unpack.js';
import { type InstallStep, goingOn, passed } from './install-step.js';

/** Unpacks the bundle into `releases/<version>/` (hardened: see `unpackBundle`), replacing what was there. */
export const unpackStep: InstallStep = {
  name: 'unpack',
  applies: (ctx) => ctx.mode === 'fresh' && goingOn(ctx),
  async run(ctx) {
    const { paths, job } = ctx;
    const unpacked = await ctx.steps.step('unpack', async (context) => {
      await mkdir(paths.releasesDir, { recursive: true });
      await rm(paths.releaseDir, { recursive: true, force: true });
      const meta = await unpackBundle({
        archive: ctx.archive,
        dest: paths.releaseDir,
        expectedSha256: job.sha256,
      });
      context.out(`${meta.files.length} entries unpacked\n`);
    });
    // From here on, a failure before the switch removes the half-made release.
    if (passed(ctx, unpacked)) ctx.unpacked = true;
  },
};
