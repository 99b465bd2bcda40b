import { mkdir, rm } from 'node:fs/promises';
import { unpackBundle } from '../../../bundle/unpack.js';
import { checkBundleManifest } from '../bundle-manifest-check.js';
import { type InstallStep, goingOn, passed } from './install-step.js';

/**
 * Unpacks the bundle into `releases/<version>/` (hardened against hostile
 * archives: see `unpackBundle`; its bytes were checked by `verify`),
 * replacing what was there, then checks that the job's manifest section is the
 * one the verified bundle carries: the commands run are the bundle's, never a
 * changed copy from the server's store. A difference removes the release.
 */
export const unpackStep: InstallStep = {
  name: 'unpack',
  applies: (ctx) => ctx.mode === 'fresh' && goingOn(ctx),
  async run(ctx) {
    const { paths, job } = ctx;
    const unpacked = await ctx.steps.step('unpack', async (context) => {
      await mkdir(paths.releasesDir, { recursive: true });
      await rm(paths.releaseDir, { recursive: true, force: true });
      // The archive's sha256 was checked by `verify` (hashed as it was
      // downloaded), with the server's signature over it: not hashed again,
      // nor each file (the server checked them at push; the sha256 binds them).
      const meta = await unpackBundle({ archive: ctx.archive, dest: paths.releaseDir });
      context.out(`${meta.files.length} entries unpacked\n`);
      try {
        checkBundleManifest(job, meta.manifest.apps[job.app], 'the bundle');
      } catch (err) {
        await rm(paths.releaseDir, { recursive: true, force: true });
        throw err;
      }
      context.out(`the job's manifest is the bundle's own\n`);
    });
    // From here on, a failure before the switch removes the half-made release.
    if (passed(ctx, unpacked)) ctx.unpacked = true;
  },
};
