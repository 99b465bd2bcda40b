import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { type AppManifest, appManifestSchema } from '../../bundle/manifest-schema.js';
import { BUNDLE_META_FILE, type BundleMeta } from '../../bundle/bundle-meta.js';
import { referencedVariables } from '../../bundle/variable-references.js';
import { commandEnv } from './command-env.js';
import { readReleaseSnapshot } from './release-snapshot.js';
import { fillVariables } from './variables.js';
import type { InstallContext } from './steps/install-step.js';

/** The manifest section and command environment a release runs with. */
export interface ReleaseSettings {
  app: AppManifest;
  env: Record<string, string>;
}

/**
 * The settings a release runs with: its own, not the new one's. For the new
 * release, what `prepare` resolved; for another one (going back), what its
 * bundle carries, filled with the variables of its configuration snapshot —
 * those it was started with, not this job's. A release from an agent older than
 * snapshots has none: then this job's variables are all there is.
 */
export async function releaseSettings(
  ctx: InstallContext,
  version: number,
): Promise<ReleaseSettings> {
  if (version === ctx.job.version) return { app: ctx.manifest, env: ctx.env };
  const { job, host, paths } = ctx;
  const dir = path.join(paths.releasesDir, String(version));
  const meta = JSON.parse(await readFile(path.join(dir, BUNDLE_META_FILE), 'utf8')) as BundleMeta;
  const section = appManifestSchema.extend({ role: z.string() }).parse(meta.manifest.apps[job.app]);
  const snapshot = await readReleaseSnapshot(dir);
  // The masker is replaced, not added to: this job's secrets stay masked too.
  if (snapshot)
    ctx.steps.maskSecrets([
      ...(job.secrets ?? []).flatMap((name) => job.vars[name] ?? []),
      ...snapshot.secrets.flatMap((name) => snapshot.vars[name] ?? []),
    ]);
  const vars = snapshot?.vars ?? job.vars;
  return {
    app: fillVariables(section, vars),
    env: commandEnv(host, job, version, dir, referencedVariables(section), vars, section.runtime),
  };
}
