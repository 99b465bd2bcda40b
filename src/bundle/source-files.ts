import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { FerryError } from '../protocol/errors.js';
import { resolveLinkTarget, unsafeEntryPath } from './entry-path.js';

/** Files that hold ignore patterns, read in every folder walked. */
export const IGNORE_FILES = ['.gitignore', '.ferryignore'] as const;

/** One entry of the source tree that goes into a bundle. */
export type SourceEntry =
  | { type: 'file'; path: string; abs: string; size: number; mode: number; mtimeMs: number }
  | { type: 'symlink'; path: string; abs: string; target: string; mtimeMs: number };

/** What a walk of the source tree found. */
export interface SourceListing {
  entries: SourceEntry[];
  /** Entries left out because a bundle cannot hold them (sockets, FIFOs, devices). */
  skipped: { path: string; reason: string }[];
}

interface Matcher {
  /** Folder the patterns are relative to, from the app root ('' for the root itself). */
  base: string;
  /** For ignore files above the app root: the path from their folder down to the app root. */
  prefix: string;
  rules: Ignore;
}

/**
 * Lists what goes into a bundle of `appRoot`: everything but `.git`, the `exclude`
 * patterns, and what `.gitignore` / `.ferryignore` files ignore (those in the app's
 * folders and in the folders between `treeRoot` and it). Sorted by path, so the
 * same tree always gives the same list.
 */
export async function listSourceFiles(
  treeRoot: string,
  appRoot: string,
  exclude: readonly string[],
  onEntry?: (count: number) => void,
): Promise<SourceListing> {
  const matchers: Matcher[] = [];
  const rootRules = ignore().add(exclude);
  // Ignore files in the folders from the manifest's folder down to (not including)
  // the app's folder apply too, to paths seen from their own folder.
  const between = path.relative(treeRoot, appRoot);
  if (between && !between.startsWith('..')) {
    const segments = between.split(path.sep);
    for (let depth = 0; depth < segments.length; depth++) {
      const dir = path.join(treeRoot, ...segments.slice(0, depth));
      const prefix = segments.slice(depth).join('/');
      for (const patterns of await readIgnoreFiles(dir)) {
        matchers.push({ base: '', prefix, rules: ignore().add(patterns) });
      }
    }
  }
  matchers.push({ base: '', prefix: '', rules: rootRules });

  const listing: SourceListing = { entries: [], skipped: [] };
  await walk(appRoot, '', matchers, listing, onEntry);
  listing.entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return listing;
}

async function walk(
  appRoot: string,
  relDir: string,
  inherited: Matcher[],
  listing: SourceListing,
  onEntry?: (count: number) => void,
): Promise<void> {
  const absDir = path.join(appRoot, relDir);
  const matchers = [...inherited];
  for (const patterns of await readIgnoreFiles(absDir)) {
    matchers.push({ base: relDir, prefix: '', rules: ignore().add(patterns) });
  }
  const names = (await readdir(absDir)).sort();
  for (const name of names) {
    if (name === '.git') continue;
    const rel = relDir ? `${relDir}/${name}` : name;
    const abs = path.join(absDir, name);
    const stats = await lstat(abs);
    if (isIgnored(matchers, rel, stats.isDirectory())) continue;
    const unsafe = unsafeEntryPath(rel);
    if (unsafe) {
      throw new FerryError('E_BUNDLE_UNSAFE_PATH', `Cannot bundle "${rel}": its path ${unsafe}`, {
        path: rel,
      });
    }
    if (stats.isDirectory()) {
      await walk(appRoot, rel, matchers, listing, onEntry);
      continue;
    }
    if (stats.isFile()) {
      listing.entries.push({
        type: 'file',
        path: rel,
        abs,
        size: stats.size,
        mode: stats.mode & 0o111 ? 0o755 : 0o644,
        mtimeMs: stats.mtimeMs,
      });
    } else if (stats.isSymbolicLink()) {
      const target = await readlink(abs);
      if (resolveLinkTarget(rel, target) === undefined) {
        throw new FerryError(
          'E_BUNDLE_SYMLINK_OUTSIDE',
          `Cannot bundle "${rel}": it links to "${target}", outside the app's folder`,
          { path: rel, target },
        );
      }
      listing.entries.push({ type: 'symlink', path: rel, abs, target, mtimeMs: stats.mtimeMs });
    } else {
      listing.skipped.push({ path: rel, reason: 'not a regular file, folder or link' });
      continue;
    }
    onEntry?.(listing.entries.length);
  }
}

function isIgnored(matchers: Matcher[], rel: string, isDir: boolean): boolean {
  for (const { base, prefix, rules } of matchers) {
    let relToBase: string;
    if (base === '') relToBase = prefix ? `${prefix}/${rel}` : rel;
    else if (rel.startsWith(`${base}/`)) relToBase = rel.slice(base.length + 1);
    else continue;
    if (rules.ignores(isDir ? `${relToBase}/` : relToBase)) return true;
  }
  return false;
}

async function readIgnoreFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of IGNORE_FILES) {
    try {
      found.push(await readFile(path.join(dir, name), 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return found;
}
