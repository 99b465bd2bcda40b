import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { InstallJob } from '../../protocol/messages.js';

/**
 * The file in a release that keeps the configuration it was started with: the
 * variables its manifest section uses (secrets included, so mode 0600, readable
 * by the agent's user only), and which of them are secret.
 */
export const RELEASE_SNAPSHOT_FILE = '.ferry-snapshot.json';

const releaseSnapshotSchema = z.object({
  version: z.int(),
  /** The install that wrote it, and its deployment when it had one. */
  installId: z.string(),
  deploymentId: z.string().nullable(),
  vars: z.record(z.string(), z.string()),
  secrets: z.array(z.string()),
  writtenAt: z.string(),
});

/** What a release keeps of the configuration it was started with. */
export type ReleaseSnapshot = z.infer<typeof releaseSnapshotSchema>;

/**
 * The snapshot an install gives its release: the job's variables that the
 * release's manifest section refers to (`referenced`), not every variable in
 * the host's scope — another app's secrets have no business in this file.
 */
export function snapshotOf(job: InstallJob, referenced: readonly string[]): ReleaseSnapshot {
  const vars: Record<string, string> = {};
  for (const name of referenced) {
    const value = job.vars[name];
    if (value !== undefined) vars[name] = value;
  }
  return {
    version: job.version,
    installId: job.installId,
    deploymentId: job.deploymentId ?? null,
    vars,
    secrets: (job.secrets ?? []).filter((name) => Object.hasOwn(vars, name)).sort(),
    writtenAt: new Date().toISOString(),
  };
}

/**
 * Writes a release's snapshot, mode 0600, atomically: a release is never left
 * with half a snapshot, which would make going back to it fail.
 *
 * @example
 *   await writeReleaseSnapshot(releaseDir, snapshotOf(job, referenced));
 */
export async function writeReleaseSnapshot(
  releaseDir: string,
  snapshot: ReleaseSnapshot,
): Promise<void> {
  await (await stageReleaseSnapshot(releaseDir, snapshot)).commit();
}

/** A snapshot written in full beside a release, not yet the release's own. */
export interface StagedSnapshot {
  /** Makes it the release's snapshot (a rename). */
  commit(): Promise<void>;
  /** Drops it: the release keeps the snapshot it had. */
  discard(): Promise<void>;
}

/**
 * Writes a release's snapshot beside it, mode 0600, without making it the
 * release's yet: what can fail for want of space fails before the change it
 * goes with (the switch), and the release's snapshot changes only with it.
 *
 * @example
 *   const staged = await stageReleaseSnapshot(releaseDir, snapshotOf(job, referenced));
 *   await switchCurrent(appDir, version).catch(async (err) => { await staged.discard(); throw err; });
 *   await staged.commit();
 */
export async function stageReleaseSnapshot(
  releaseDir: string,
  snapshot: ReleaseSnapshot,
): Promise<StagedSnapshot> {
  const file = path.join(releaseDir, RELEASE_SNAPSHOT_FILE);
  const partial = `${file}.partial`;
  await writeFile(partial, `${JSON.stringify(snapshot)}\n`, { mode: 0o600 });
  return {
    commit: () => rename(partial, file),
    discard: () => rm(partial, { force: true }),
  };
}

/**
 * A release's snapshot, or null when it has none (a release installed by an
 * older agent): the caller then falls back to the job's variables and says so.
 * A snapshot that exists but does not parse is an error: guessing the
 * configuration of a release would start it with the wrong one.
 */
export async function readReleaseSnapshot(releaseDir: string): Promise<ReleaseSnapshot | null> {
  let text: string;
  try {
    text = await readFile(path.join(releaseDir, RELEASE_SNAPSHOT_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return releaseSnapshotSchema.parse(JSON.parse(text));
}
