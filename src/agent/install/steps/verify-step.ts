import { type InstallStep, goingOn, passed } from './install-step.js';

/** Checks the fetched bundle's sha256 against the job's. */
export const verifyStep: InstallStep = {
  name: 'verify',
  applies: (ctx) => ctx.mode === 'fresh' && goingOn(ctx),
  async run(ctx) {
    const verified = await ctx.steps.step('verify', (context) =>
      ctx.host.fetcher.verify(ctx.archive, ctx.job.sha256, context.out),
    );
    passed(ctx, verified);
  },
};
