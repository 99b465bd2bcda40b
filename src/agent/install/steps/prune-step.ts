import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { installedBundles } from '../release-files.js';
import { type InstallStep } from './install-step.js';

/**
 * Removes releases beyond `keepReleases`, never the new one or the previous
 * one, then the cached bundles that no release left on the host came from.
 * Runs whenever the install touched `current`, however it ended.
 */
export const pruneStep: InstallStep = {
  name: 'prune',
  applies: (ctx) =>
    ctx.mode === 'resume-revert' ||
    ctx.switched ||
    // A re-run that found `current` switched already (the journal knew what ran before).
    (ctx.mode === 'restart' && ctx.memory.previous !== undefined),
  async run(ctx) {
    const { job, host, paths } = ctx;
    await ctx.steps.step('prune', async (context) => {
      await prune(
        paths.releasesDir,
        ctx.manifest.keepReleases,
        [job.version, ctx.previous],
        context.out,
      );
      await host.fetcher.prune(await installedBundles(host.appsDir), context.out);
    });
  },
};

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
