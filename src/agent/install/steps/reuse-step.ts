import { type InstallStep, goingOn, passed } from './install-step.js';

/** The release is still on the host, installed from the same bundle: a rollback is a switch and a restart. */
export const reuseStep: InstallStep = {
  name: 'reuse',
  applies: (ctx) => ctx.mode === 'reuse' && goingOn(ctx),
  async run(ctx) {
    const { job } = ctx;
    const reused = await ctx.steps.step('reuse', (context) => {
      context.out(
        `releases/${job.version} is on this host, installed from the same bundle (sha256 ${job.sha256.slice(0, 12)}…): no fetch, no install\n`,
      );
      return Promise.resolve();
    });
    passed(ctx, reused);
  },
};
