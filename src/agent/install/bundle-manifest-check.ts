import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { BUNDLE_META_FILE } from '../../bundle/bundle-meta.js';
import { appManifestSchema } from '../../bundle/manifest-schema.js';
import type { InstallJob } from '../../protocol/messages.js';
import { StepFailure } from './step-reporter.js';

const sectionSchema = appManifestSchema.extend({ role: z.string() });

/**
 * Refuses a job whose manifest section is not the one the bundle itself
 * carries (`ferry-bundle.json`, whose bytes the verified sha256 and the
 * server's signature cover). The job's copy comes from the server's store,
 * which the signature does not cover: without this check, whoever can write
 * the store could add a hook or change a command and have it run on hosts.
 * Both sides are parsed with the same schema (defaults filled) and compared
 * key by key; the error names every path that differs.
 *
 * @example
 *   checkBundleManifest(job, meta.manifest.apps[job.app], 'the bundle');
 */
export function checkBundleManifest(job: InstallJob, carried: unknown, where: string): void {
  const ref = `${job.app}@${job.version}`;
  if (carried === undefined) {
    throw new StepFailure(
      `refusing to run ${ref}: ${where} has no manifest section for ${job.app}, but the job has one`,
    );
  }
  const ours = sectionSchema.safeParse(carried);
  if (!ours.success) {
    throw new StepFailure(
      `refusing to run ${ref}: the manifest section in ${where} is invalid (${ours.error.issues[0]?.message ?? 'unknown problem'})`,
    );
  }
  const theirs = sectionSchema.safeParse(job.manifest);
  const differences = theirs.success
    ? differencesOf(theirs.data, ours.data, '')
    : ['the job’s section is invalid'];
  if (differences.length > 0) {
    const shown = differences.slice(0, 5).join('; ');
    const more = differences.length > 5 ? `; and ${differences.length - 5} more` : '';
    throw new StepFailure(
      `refusing to run ${ref}: the job's manifest differs from the one in ${where} (${BUNDLE_META_FILE}), ` +
        `so it was changed after the push — ${shown}${more}`,
    );
  }
}

/**
 * The manifest section of `app` in an installed release's own `ferry-bundle.json`
 * (written by the unpack of its verified bundle); `undefined` when it has none.
 * Throws a `StepFailure` when the file cannot be read.
 */
export async function releaseManifestSection(releaseDir: string, app: string): Promise<unknown> {
  const file = path.join(releaseDir, BUNDLE_META_FILE);
  let meta: unknown;
  try {
    meta = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new StepFailure(
      `cannot check the job's manifest against the release's own: ${file} cannot be read (${(err as Error).message})`,
    );
  }
  const parsed = z
    .looseObject({ manifest: z.looseObject({ apps: z.record(z.string(), z.unknown()) }) })
    .safeParse(meta);
  return parsed.success ? parsed.data.manifest.apps[app] : undefined;
}

/** Each path where `job` and `bundle` differ, saying what each side holds there. */
function differencesOf(job: unknown, bundle: unknown, at: string): string[] {
  if (isRecord(job) && isRecord(bundle)) {
    const keys = [...new Set([...Object.keys(job), ...Object.keys(bundle)])].sort();
    return keys.flatMap((key) =>
      differencesOf(job[key], bundle[key], at === '' ? key : `${at}.${key}`),
    );
  }
  if (Array.isArray(job) && Array.isArray(bundle) && job.length === bundle.length) {
    return job.flatMap((item, i) => differencesOf(item, bundle[i], `${at}[${i}]`));
  }
  if (canonical(job) === canonical(bundle)) return [];
  return [
    `${at === '' ? 'the section' : at}: the job has ${shown(job)}, the bundle has ${shown(bundle)}`,
  ];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON with every object's keys sorted: equal values, equal text. */
function canonical(value: unknown): string {
  return (
    JSON.stringify(value, (_key, v: unknown) =>
      isRecord(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v,
    ) ?? 'nothing'
  );
}

function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = canonical(value);
  return text.length > 120 ? `${text.slice(0, 117)}…` : text;
}
