import { StepFailure } from '../step-reporter.js';
import { type InstallStep, goingOn, passed } from './install-step.js';

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
 *
 * They run at most once per job, whatever becomes of the agent: the journal is
 * told before the first command and after the last. A job resumed after a
 * crash or a stop (in `restart` mode once it had switched) skips them when they
 * succeeded, and fails without running them again when they had begun: they
 * may have run in part, which a person must look at. When the journal cannot
 * be written, they do not run at all.
 */
export const migrateStep: InstallStep = {
  name: 'migrate',
  applies: (ctx) =>
    ctx.job.migrate === true &&
    (ctx.mode === 'fresh' || ctx.mode === 'reuse' || ctx.mode === 'restart') &&
    goingOn(ctx) &&
    ctx.manifest.migrate.length > 0 &&
    ctx.memory.migration !== 'succeeded',
  async run(ctx) {
    const { manifest, paths, memory } = ctx;
    const migrated = await ctx.steps.step('migrate', async (context) => {
      if (memory.migration === 'began') {
        throw new StepFailure(
          'the agent stopped during the migrations of this install; ' +
            'they are not run again, as they may have run in part',
        );
      }
      await memory.rememberMigration?.('began');
      for (const command of manifest.migrate)
        await context.run(command, {
          cwd: paths.releaseDir,
          env: ctx.env,
          timeoutMs: ctx.host.commandTimeoutMs,
        });
      await memory.rememberMigration?.('succeeded');
    });
    if (!passed(ctx, migrated)) ctx.failure = { error: `migration failed: ${migrated.error}` };
  },
};
