import { z } from 'zod';
import { appManifestSchema } from '../../../bundle/manifest-schema.js';
import { referencedVariables } from '../../../bundle/variable-references.js';
import { commandEnv, refuseSecretsInCommands } from '../command-env.js';
import { currentVersion, isInstalled } from '../release-files.js';
import { readReleaseSnapshot } from '../release-snapshot.js';
import { fillVariables } from '../variables.js';
import { type InstallContext, type InstallStep, passed } from './install-step.js';

/** A job's manifest: the bundle's, with the role it was deployed as (made once: extending a schema costs). */
const jobManifestSchema = appManifestSchema.extend({ role: z.string() });

/**
 * The first step of every install: the manifest with `${NAME}` filled from the
 * host's variables (a missing one, or a secret in a command line, fails the
 * install here, before anything on the host is touched), the command
 * environment, and which way the install goes (`ctx.mode`).
 */
export const prepareStep: InstallStep = {
  name: 'prepare',
  applies: () => true,
  async run(ctx) {
    const { job, steps, paths } = ctx;
    // Secrets never reach the server's records: not in echoed commands, output or
    // errors. Those the release ran with before count too: the process stopping
    // on a redeploy of this version writes to the same log with them, and a
    // rotated secret is no less secret for being old.
    steps.maskSecrets([
      ...(job.secrets ?? []).flatMap((name) => job.vars[name] ?? []),
      ...(await earlierSecrets(paths.releaseDir)),
    ]);
    const prepared = await steps.step('prepare', (context) => {
      const parsed = jobManifestSchema.parse(job.manifest);
      refuseSecretsInCommands(parsed, job.secrets ?? []);
      ctx.referenced = referencedVariables(parsed);
      ctx.manifest = fillVariables(parsed, job.vars);
      context.out(`app ${job.app}@${job.version} into ${paths.releaseDir}\n`);
      return Promise.resolve();
    });
    if (!passed(ctx, prepared)) return;
    ctx.env = commandEnv(
      ctx.host,
      job,
      job.version,
      paths.releaseDir,
      ctx.referenced,
      job.vars,
      ctx.manifest.runtime,
    );
    ctx.current = await currentVersion(paths.currentLink);
    // A re-run after a crash may find `current` switched already: the journal
    // remembers what ran before.
    ctx.previous = ctx.memory.previous !== undefined ? ctx.memory.previous : ctx.current;
    ctx.mode = await modeOf(ctx);
  },
};

/** The secret values a release's snapshot on disk holds; none when it has none or it cannot be read. */
async function earlierSecrets(releaseDir: string): Promise<string[]> {
  const snapshot = await readReleaseSnapshot(releaseDir).catch(() => null);
  return snapshot === null ? [] : snapshot.secrets.flatMap((name) => snapshot.vars[name] ?? []);
}

async function modeOf(ctx: InstallContext): Promise<InstallContext['mode']> {
  const { job, memory, previous } = ctx;
  // The agent stopped while going back after a failure: carry on going back.
  // Starting the new release again would repeat the outage it caused.
  if (memory.reverting && previous !== null && previous !== job.version) return 'resume-revert';
  // Installing the running version again, or resuming after the switch.
  if (ctx.current === job.version) return 'restart';
  if (await isInstalled(ctx.paths.releaseDir, job.sha256)) return 'reuse';
  return 'fresh';
}
