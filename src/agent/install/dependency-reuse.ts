import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import {
  cp,
  lstat,
  readFile,
  readdir,
  readlink,
  realpath,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
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

/** Files of a Node release, besides its lockfile, that change what its install puts in node_modules. */
export const NODE_INPUTS = ['package.json', '.npmrc'] as const;

/** Files of a Python release, besides requirements.txt and what it includes, that change what pip installs. */
export const PYTHON_INPUTS = ['pip.conf', 'pip.ini'] as const;

/** Variables of the install's environment left out of the key: they name the release itself. */
const RELEASE_VARIABLES = new Set(['FERRY_VERSION', 'FERRY_RELEASE_DIR']);

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
  /**
   * The other files the install reads, by path in the release, with their
   * sha256: package.json and .npmrc; pip.conf, pip.ini, each file
   * requirements.txt includes (`-r`, `-c`) and every file under wheels/.
   */
  inputs?: Record<string, string>;
  /**
   * The install's environment: each variable's name with a sha256 of its
   * value (the release's own path in it replaced), never the value itself.
   */
  env?: Record<string, string>;
  /**
   * false when the install made more than the dependency folder (what it made
   * is in `madeByInstall`): a copy of the folder alone would leave that out.
   */
  reusable?: boolean;
  /** What else the install made or changed, for the log ("dist/", "client/node_modules/"). */
  madeByInstall?: string[];
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
 * The key of a release's dependencies, from its files on disk and the
 * environment its install runs with; null when it has no lockfile (nothing
 * says its dependencies stay the same).
 */
export async function dependencyKey(
  runtime: 'node' | 'python',
  releaseDir: string,
  install: readonly string[],
  runtimeVersion: string | null,
  env: Record<string, string> = {},
): Promise<DependencyKey | null> {
  const names = runtime === 'node' ? NODE_LOCKFILES : PYTHON_LOCKFILES;
  const lockfiles: Record<string, string> = {};
  for (const name of names) {
    const hash = await sha256Of(path.join(releaseDir, name));
    if (hash !== null) lockfiles[name] = hash;
  }
  if (Object.keys(lockfiles).length === 0) return null;
  const inputs: Record<string, string> = {};
  const files =
    runtime === 'node'
      ? [...NODE_INPUTS]
      : [
          ...PYTHON_INPUTS,
          ...(await requirementsOf(releaseDir)).included,
          ...(await filesUnder(releaseDir, WHEELS_DIR)),
        ];
  for (const name of files.sort()) {
    const hash = await sha256Of(path.join(releaseDir, name));
    if (hash !== null) inputs[name] = hash;
  }
  return {
    runtime,
    runtimeVersion,
    folder: runtime === 'node' ? 'node_modules' : VENV_DIR,
    lockfiles,
    install: [...install],
    inputs,
    env: envKey(env, releaseDir),
  };
}

/** Each variable's name with a sha256 of its value, the release's own path in it made neutral. */
function envKey(env: Record<string, string>, releaseDir: string): Record<string, string> {
  const key: Record<string, string> = {};
  for (const name of Object.keys(env).sort()) {
    if (RELEASE_VARIABLES.has(name)) continue;
    const value = (env[name] ?? '').split(releaseDir).join('<release>');
    key[name] = createHash('sha256').update(`${name}=${value}`).digest('hex');
  }
  return key;
}

/** What a requirements file and those it includes say, as far as reuse cares. */
export interface Requirements {
  /** The files `-r`/`-c` name, recursively, by path in the release. */
  included: string[];
  /** Why a copy of the virtualenv would serve the old release's code or files; null when it would not. */
  ownFiles: string | null;
}

/**
 * Reads requirements.txt and the files it includes: which they are, and
 * whether any installs from the release's own files — an editable install
 * (`-e .`) leaves the old release's path in site-packages, a local path
 * (`./libs/common`) installs the old release's copy.
 */
export async function requirementsOf(releaseDir: string): Promise<Requirements> {
  const included: string[] = [];
  const seen = new Set<string>();
  let ownFiles: string | null = null;
  const read = async (rel: string): Promise<void> => {
    if (seen.has(rel)) return;
    seen.add(rel);
    const text = await readFile(path.join(releaseDir, rel), 'utf8').catch(() => null);
    if (text === null) return;
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.replace(/(^|\s)#.*$/, '').trim();
      if (line === '') continue;
      const option = /^(-r|-c|--requirement|--constraint)(?:\s*=\s*|\s+|(?<=^-[rc]))(\S+)$/.exec(
        line,
      );
      if (option) {
        const named = path.normalize(path.join(path.dirname(rel), option[2] ?? ''));
        if (named.startsWith('..') || path.isAbsolute(named)) {
          ownFiles ??= `${rel} includes ${option[2]}, outside the release`;
          continue;
        }
        included.push(named);
        await read(named);
        continue;
      }
      const editable = /^(-e|--editable)(?:\s*=\s*|\s+|(?<=^-e))(\S+)/.exec(line);
      if (editable) {
        ownFiles ??= `${rel} installs from the release's own files (${line})`;
        continue;
      }
      if (line.startsWith('-')) continue;
      if (isLocalPath(line, releaseDir) || (await isLocalRequirement(line, releaseDir)))
        ownFiles ??= `${rel} installs from the release's own files (${line})`;
    }
  };
  await read(PYTHON_LOCKFILES[0]);
  return { included: [...new Set(included)], ownFiles };
}

function isLocalPath(line: string, releaseDir: string): boolean {
  const spec = line.split(/\s*;/)[0] ?? '';
  return (
    /^(\.{1,2}(\/|$)|\/|~|file:)/.test(spec) || /@\s*file:/.test(spec) || spec.includes(releaseDir)
  );
}

/** A bare `libs/common` (a slash, no URL) that names a folder or archive in the release. */
async function isLocalRequirement(line: string, releaseDir: string): Promise<boolean> {
  const spec = line.split(/[\s;]/)[0] ?? '';
  if (!spec.includes('/') || spec.includes('://')) return false;
  return (await lstat(path.join(releaseDir, spec)).catch(() => null)) !== null;
}

/** Every file under `dir` of the release, by path in the release. */
async function filesUnder(releaseDir: string, dir: string): Promise<string[]> {
  const entries = await readdir(path.join(releaseDir, dir), {
    recursive: true,
    withFileTypes: true,
  }).catch(() => []);
  return entries
    .filter((entry) => !entry.isDirectory())
    .map((entry) => path.relative(releaseDir, path.join(entry.parentPath, entry.name)));
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

/** Records what a release's dependencies were installed from (readable by the agent alone: it names variables). */
export async function writeDependencyKey(releaseDir: string, key: DependencyKey): Promise<void> {
  const file = path.join(releaseDir, DEPENDENCIES_FILE);
  await writeFile(file, `${JSON.stringify(key, null, 2)}\n`, { mode: 0o600 });
}

/** Removes a record the bundle shipped: only the agent's own install writes one. */
export async function removeDependencyKey(releaseDir: string): Promise<void> {
  await rm(path.join(releaseDir, DEPENDENCIES_FILE), { force: true });
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
  const changed = changedNames(before.lockfiles, after.lockfiles);
  if (changed.length > 0) return `${changed.join(', ')} changed`;
  if (before.runtimeVersion !== after.runtimeVersion) {
    const name = after.runtime === 'node' ? 'node' : 'python3';
    return `${name} changed from ${before.runtimeVersion ?? 'none'} to ${after.runtimeVersion ?? 'none'}`;
  }
  if (JSON.stringify(before.install) !== JSON.stringify(after.install))
    return 'the install commands changed';
  if (before.inputs === undefined || before.env === undefined)
    return "its record predates keying on the install's other files and environment";
  const inputs = changedNames(before.inputs, after.inputs ?? {});
  if (inputs.length > 0) return `${inputs.join(', ')} changed`;
  const env = changedNames(before.env, after.env ?? {});
  if (env.length > 0) return `the install's environment changed (${env.join(', ')})`;
  return null;
}

function changedNames(before: Record<string, string>, after: Record<string, string>): string[] {
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return names.filter((name) => before[name] !== after[name]);
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
 * faster than `fs.cp` on a large `node_modules`), else (no `cp`, or one without
 * those options: macOS, busybox) `fs.cp` cloning each file. A GNU cp that
 * fails otherwise (disk full) fails the copy with what it said.
 */
export async function copyDependencies(from: string, to: string): Promise<void> {
  try {
    await run('cp', ['-a', '--reflink=auto', '--', from, to], { timeout: 10 * 60_000 });
    return;
  } catch (err) {
    const { code, stderr } = err as NodeJS.ErrnoException & { stderr?: string };
    const unsupported =
      code === 'ENOENT' ||
      /unrecognized option|illegal option|invalid option|usage:/i.test(stderr ?? '');
    await rm(to, { recursive: true, force: true });
    if (!unsupported) {
      const said = (stderr ?? '').trim() || (err as Error).message;
      throw new Error(`copying ${from} failed: ${said}`);
    }
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
 * release, also once the old one is pruned. The folder is named as given and
 * as resolved: `python3 -m venv` writes the path with symlinks resolved.
 */
export async function relocateVenv(venv: string, madeIn: string): Promise<number> {
  let fixed = 0;
  const olds = await namesOf(madeIn);
  for (const file of await venvTextFiles(venv)) {
    const text = await readFile(file.path, 'latin1');
    if (!olds.some((old) => text.includes(old))) continue;
    // The longer name first: one may contain the other.
    const moved = olds.reduce((t, old) => t.split(old).join(venv), text);
    await writeFile(file.path, moved, { encoding: 'latin1', mode: file.mode });
    fixed += 1;
  }
  return fixed;
}

/**
 * Why a relocated virtualenv does not work from its new folder; null when its
 * python says its prefix is the new folder and no script in bin/ names the old.
 */
export async function relocatedVenvProblem(
  venv: string,
  madeIn: string,
  env: Record<string, string>,
): Promise<string | null> {
  const olds = await namesOf(madeIn);
  for (const file of await venvTextFiles(venv)) {
    const text = await readFile(file.path, 'latin1');
    const old = olds.find((name) => text.includes(name));
    if (old !== undefined)
      return `${path.relative(venv, file.path)} of the copied ${VENV_DIR} still names ${old}`;
  }
  let prefix: string;
  try {
    const { stdout } = await run(
      path.join(venv, 'bin', 'python'),
      ['-c', 'import sys; print(sys.prefix)'],
      { env: { PATH: env.PATH ?? '/usr/bin:/bin' }, timeout: 60_000 },
    );
    prefix = stdout.trim();
  } catch (err) {
    return `the copied ${VENV_DIR}'s python does not run (${(err as Error).message.split('\n')[0]})`;
  }
  const wanted = await namesOf(venv);
  return wanted.includes(prefix)
    ? null
    : `the copied ${VENV_DIR}'s python has its prefix at ${prefix}, not ${venv}`;
}

/** A folder's path as given and resolved, the longer first. */
async function namesOf(dir: string): Promise<string[]> {
  const resolved = await realpath(dir).catch(() => dir);
  return [...new Set([dir, resolved])].sort((a, b) => b.length - a.length);
}

/** pyvenv.cfg and the small regular files of bin/ (`python` links to the host's interpreter). */
async function venvTextFiles(venv: string): Promise<{ path: string; mode: number }[]> {
  const binDir = path.join(venv, 'bin');
  const files = [
    path.join(venv, 'pyvenv.cfg'),
    ...(await readdir(binDir).catch(() => [])).map((name) => path.join(binDir, name)),
  ];
  const found: { path: string; mode: number }[] = [];
  for (const file of files) {
    const info = await lstat(file).catch(() => null);
    if (info === null || !info.isFile() || info.size > 1024 * 1024) continue;
    found.push({ path: file, mode: info.mode });
  }
  return found;
}

/** A release's top-level entries: a file by its size and time, a folder or link by its being there. */
export type TopLevel = Record<string, string>;

export async function topLevel(releaseDir: string): Promise<TopLevel> {
  const entries: TopLevel = {};
  for (const name of await readdir(releaseDir).catch(() => [])) {
    const info = await lstat(path.join(releaseDir, name)).catch(() => null);
    if (info === null) continue;
    entries[name] = info.isDirectory()
      ? 'dir'
      : info.isSymbolicLink()
        ? `link:${await readlink(path.join(releaseDir, name)).catch(() => '')}`
        : `file:${info.size}:${info.mtimeMs}`;
  }
  return entries;
}

/**
 * What an install made or changed besides its dependency folder (and the
 * record): the top-level entries that differ between `before` and `after`,
 * and any node_modules below the release other than the top one.
 */
export async function madeByInstall(
  releaseDir: string,
  folder: string,
  before: TopLevel,
  after: TopLevel,
): Promise<string[]> {
  const made: string[] = [];
  for (const name of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
    if (name === folder || name === DEPENDENCIES_FILE || before[name] === after[name]) continue;
    made.push(after[name] === 'dir' ? `${name}/` : name);
  }
  for (const nested of await nestedNodeModules(releaseDir))
    if (!made.some((name) => nested.startsWith(name))) made.push(`${nested}/`);
  return made;
}

/** Each node_modules folder below the release, the top one (and what is in it) left out. */
async function nestedNodeModules(releaseDir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(path.join(releaseDir, rel), { withFileTypes: true }).catch(
      () => [],
    );
    for (const entry of entries) {
      if (!entry.isDirectory()) continue;
      const child = rel === '' ? entry.name : path.join(rel, entry.name);
      if (rel === '' && (entry.name === 'node_modules' || entry.name === VENV_DIR)) continue;
      if (entry.name === 'node_modules') found.push(child);
      else if (entry.name !== '.git') await walk(child);
    }
  };
  await walk('');
  return found;
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
