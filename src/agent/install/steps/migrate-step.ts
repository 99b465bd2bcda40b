import { type InstallStep, goingOn, passed } from './install-step.js';
import { runCommands } from './run-commands.js';

/**
 * The manifest's `migrate` commands, in the new release, after its install
 * commands and before the switch — only when the job asks for them (the server
 * asks one host per deployment and environment), and never when going back. A
 * failed migration fails the install with `current` untouched.
 *
 * A release switched back to (`reuse`) runs them too when asked: deploying a
 * version again after a rollback must bring the data back up to it. So does the
 * version the host already runs (`restart`): the server asks the first host of
 * the first batch whatever it runs, and a redeploy (`--refresh-vars`, a host left
 * ahead by a cancel) must not fail for want of a migration.
 */
export const migrateStep: InstallStep = {
  name: 'migrate',
  applies: (ctx) =>
    ctx.job.migrate === true &&
    (ctx.mode === 'fresh' || ctx.mode === 'reuse' || ctx.mode === 'restart') &&
    goingOn(ctx) &&
    ctx.manifest.migrate.length > 0,
  async run(ctx) {
    const { manifest, paths } = ctx;
    const migrated = await runCommands(ctx, 'migrate', manifest.migrate, paths.releaseDir, ctx.env);
    if (!passed(ctx, migrated)) ctx.failure = { error: `migration failed: ${migrated.error}` };
  },
};
