import { type InstallStep, goingOn, passed } from './install-step.js';
import { runCommands } from './run-commands.js';

/**
 * The `beforeInstall` hooks, the `install` commands and the `afterInstall`
 * hooks, in the new release, each list its own reported step.
 */
export const installCommandsStep: InstallStep = {
  name: 'install',
  applies: (ctx) => ctx.mode === 'fresh' && goingOn(ctx),
  async run(ctx) {
    const { manifest, paths } = ctx;
    for (const [name, commands] of [
      ['before-install', manifest.hooks.beforeInstall],
      ['install', manifest.install],
      ['after-install', manifest.hooks.afterInstall],
    ] as const) {
      if (!passed(ctx, await runCommands(ctx, name, commands, paths.releaseDir, ctx.env))) return;
    }
  },
};
