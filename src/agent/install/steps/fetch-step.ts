import { type InstallStep, goingOn, passed } from './install-step.js';

/**
 * Downloads the bundle into the agent's cache (by sha256, resumed where a
 * download stopped; refused up front when the disk has no room for it),
 * hashing its bytes as they come: `verify` checks that digest.
 */
export const fetchStep: InstallStep = {
  name: 'fetch',
  applies: (ctx) => ctx.mode === 'fresh' && goingOn(ctx),
  async run(ctx) {
    const fetched = await ctx.steps.step('fetch', async (context) => {
      const fetched = await ctx.host.fetcher.fetch(ctx.job, context.out);
      ctx.archive = fetched.file;
      ctx.archiveSha256 = fetched.sha256;
    });
    passed(ctx, fetched);
  },
};
