import { linkShared } from '../link-shared.js';
import { type InstallStep, goingOn, passed } from './install-step.js';

/** Links the manifest's `shared` paths of the new release to `<app>/shared/` (see `linkShared`). */
export const linkSharedStep: InstallStep = {
  name: 'link-shared',
  applies: (ctx) => ctx.mode === 'fresh' && goingOn(ctx),
  async run(ctx) {
    const linked = await ctx.steps.step('link-shared', (context) =>
      linkShared(ctx.paths.appDir, ctx.paths.releaseDir, ctx.manifest.shared, context.out),
    );
    passed(ctx, linked);
  },
};
