import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { cp, lstat, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { AppManifest } from '../../bundle/manifest-schema.js';

const run = promisify(execFile);

/**
 * Written into a release once its dependencies are installed: what they were
 * installed from. The next release compares its own key with this one instead
 * of reading the old release's lockfiles again.
 */
export const DEPENDENCIES_FILE = '.ferry-dependencies.json';

/** The lockfiles of a Node app, in the order they are keyed (any that the bundle has). */
export const NODE_LOCKFILES = [
  'package-lock.json',
  'npm-shrinkwrap.json',
  'yarn.lock',
  'pnpm-lock.yaml',
] as const;

/** A Python app's pinned requirements. */
export const PYTHON_LOCKFILES = ['requirements.txt'] as const;

/** Where a Python app's virtualenv lives in its release. */
export const VENV_DIR = '.venv';

/** The folder of wheels a Python bundle may carry: pip installs from it alone. */
export const WHEELS_DIR = 'wheels';

/** What a release's installed dependencies were installed from. */
export interface DependencyKey {
  runtime: 'node' | 'python';
  /** The runtime's version on the host's PATH, as the agent's runtime probe said it. */
  runtimeVersion: string | null;
  /** The folder of the release the dependencies are in. */
  folder: string;
  /** Each lockfile the bundle has, with its sha256. */
  lockfiles: Record<string, string>;
  /** The manifest's `install` commands, as run (variables filled). */
  install: string[];
  /** The wheel files a Python bundle carries, by name. */
  wheels?: string[];
}

/**
 * Which runtime's dependencies an app has: `python` when its manifest says so,
 * `node` when the release has a Node lockfile and install commands; none otherwise.
 */
export async function dependencyRuntime(
  manifest: Pick<AppManifest, 'runtime' | 'install'>,
  releaseDir: string,
): Promise<'node' | 'python' | null> {
  if (manifest.runtime === 'python') return 'python';
  if (manifest.install.length === 0) return null;
  for (const name of NODE_LOCKFILES) if (await isFile(path.join(releaseDir, name))) return 'node';
  return null;
}

/**
 * The key of a release's dependencies, from its files on disk; null when it
 * has no lockfile (nothing says its dependencies stay the same).
 */
export async function dependencyKey(
  runtime: 'node' | 'python',
  releaseDir: string,
  install: readonly string[],
  runtimeVersion: string | null,
): Promise<DependencyKey | null> {
  const names = runtime === 'node' ? NODE_LOCKFILES : PYTHON_LOCKFILES;
  const lockfiles: Record<string, string> = {};
  for (const name of names) {
    const hash = await sha256Of(path.join(releaseDir, name));
    if (hash !== null) lockfiles[name] = hash;
  }
  if (Object.keys(lockfiles).length === 0) return null;
  const key: DependencyKey = {
    runtime,
    runtimeVersion,
    folder: runtime === 'node' ? 'node_modules' : VENV_DIR,
    lockfiles,
    install: [...install],
  };
  if (runtime === 'python') {
    const wheels = await readdir(path.join(releaseDir, WHEELS_DIR)).catch(() => []);
    key.wheels = wheels.filter((name) => name.endsWith('.whl')).sort();
  }
  return key;
}

/** The key a release's dependencies were installed with; null when it has none or it cannot be read. */
export async function readDependencyKey(releaseDir: string): Promise<DependencyKey | null> {
  try {
    const key = JSON.parse(
      await readFile(path.join(releaseDir, DEPENDENCIES_FILE), 'utf8'),
    ) as DependencyKey;
    return typeof key === 'object' && key !== null && typeof key.lockfiles === 'object'
      ? key
      : null;
  } catch {
    return null;
  }
}

/** Records what a release's dependencies were installed from. */
export async function writeDependencyKey(releaseDir: string, key: DependencyKey): Promise<void> {
  await writeFile(path.join(releaseDir, DEPENDENCIES_FILE), `${JSON.stringify(key, null, 2)}\n`);
}

/**
 * Why the dependencies installed with `before` cannot serve a release keyed
 * `after`, as the install's log says it; null when they can.
 *
 * @example
 *   keyChange(v1, v2); // 'package-lock.json changed'
 */
export function keyChange(before: DependencyKey, after: DependencyKey): string | null {
  if (before.runtime !== after.runtime || before.folder !== after.folder)
    return `the runtime changed from ${before.runtime} to ${after.runtime}`;
  const names = [...new Set([...Object.keys(before.lockfiles), ...Object.keys(after.lockfiles)])];
  const changed = names.filter((name) => before.lockfiles[name] !== after.lockfiles[name]);
  if (changed.length > 0) return `${changed.join(', ')} changed`;
  if (before.runtimeVersion !== after.runtimeVersion) {
    const name = after.runtime === 'node' ? 'node' : 'python3';
    return `${name} changed from ${before.runtimeVersion ?? 'none'} to ${after.runtimeVersion ?? 'none'}`;
  }
  if (JSON.stringify(before.install) !== JSON.stringify(after.install))
    return 'the install commands changed';
  if (JSON.stringify(before.wheels ?? []) !== JSON.stringify(after.wheels ?? []))
    return `the wheels in ${WHEELS_DIR}/ changed`;
  return null;
}

/** The lockfiles of a key, as a log line names them ("package-lock.json"). */
export function lockfileNames(key: DependencyKey): string {
  return Object.keys(key.lockfiles).join(', ');
}

/**
 * Copies a release's dependency folder into another release: a copy-on-write
 * clone where the file system has them, a full copy elsewhere — never hard
 * links, so that writing into one release's dependencies never changes the
 * other's. GNU `cp -a --reflink=auto` when there is one (four to five times
 * faster than `fs.cp` on a large `node_modules`), else `fs.cp` cloning each file.
 */
export async function copyDependencies(from: string, to: string): Promise<void> {
  try {
    await run('cp', ['-a', '--reflink=auto', '--', from, to], { timeout: 10 * 60_000 });
    return;
  } catch {
    // No GNU cp (macOS, busybox): the portable copy below. What it left is removed first.
    await rm(to, { recursive: true, force: true });
  }
  await cp(from, to, {
    recursive: true,
    mode: constants.COPYFILE_FICLONE,
    verbatimSymlinks: true,
    preserveTimestamps: true,
    errorOnExist: true,
    force: false,
  });
}

/**
 * A copied virtualenv still names the folder it was made in: its scripts'
 * `#!` lines, the `activate` scripts and `pyvenv.cfg`. Each of those is
 * rewritten to name the copy, so its python and scripts run from the new
 * release, also once the old one is pruned.
 */
export async function relocateVenv(venv: string, madeIn: string): Promise<number> {
  let fixed = 0;
  const binDir = path.join(venv, 'bin');
  const files = [
    path.join(venv, 'pyvenv.cfg'),
    ...(await readdir(binDir).catch(() => [])).map((name) => path.join(binDir, name)),
  ];
  for (const file of files) {
    const info = await lstat(file).catch(() => null);
    // `python` and `python3` are links to the host's interpreter, not into the venv.
    if (info === null || !info.isFile() || info.size > 1024 * 1024) continue;
    const text = await readFile(file, 'latin1');
    if (!text.includes(madeIn)) continue;
    await writeFile(file, text.split(madeIn).join(venv), { encoding: 'latin1', mode: info.mode });
    fixed += 1;
  }
  return fixed;
}

async function sha256Of(file: string): Promise<string | null> {
  try {
    return createHash('sha256')
      .update(await readFile(file))
      .digest('hex');
  } catch {
    return null;
  }
}

async function isFile(file: string): Promise<boolean> {
  return (await stat(file).catch(() => null))?.isFile() ?? false;
}
