import { lstat, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FerryError } from '../../protocol/errors.js';

/**
 * Links each `shared` path of the release to `<app>/shared/`, kept across releases.
 * A directory entry ends with `/`; the first release's own copy of a file becomes
 * the shared one.
 *
 * Every path is walked one component at a time without following links: a link
 * in the release (shipped in the bundle, or made by an earlier `shared` entry) or
 * in `<app>/shared/` refuses the install with `E_SHARED_PATH_UNSAFE`, naming the
 * entry, before anything is removed. Links that each stay inside the bundle can
 * still, once a folder they climb through has become a link to `<app>/shared/`,
 * lead outside the app: nothing here may walk through one.
 *
 * @example
 *   await linkShared('/srv/ferry/apps/cart', '/srv/ferry/apps/cart/releases/12', ['logs/'], say);
 */
export async function linkShared(
  appDir: string,
  releaseDir: string,
  shared: string[],
  say: (text: string) => void,
): Promise<void> {
  const sharedDir = path.join(appDir, 'shared');
  for (const entry of shared) {
    const isDir = entry.endsWith('/');
    // `./logs/` and `a//b` mean what they say; `..` and the release itself do not.
    const segments = entry.split('/').filter((s) => s !== '' && s !== '.');
    if (segments.length === 0 || segments.includes('..') || path.isAbsolute(entry)) {
      throw unsafe(entry, 'is not a path inside the release');
    }
    const rel = segments.join('/');
    const inRelease = await walkWithoutLinks(releaseDir, segments, entry, 'in the release');
    const target = await walkWithoutLinks(sharedDir, segments, entry, 'in the shared folder');
    const existing = await lstat(target).catch(() => undefined);
    if (!existing) {
      await mkdir(isDir ? target : path.dirname(target), { recursive: true });
      const shipped = await lstat(inRelease).catch(() => undefined);
      // The first release's own copy becomes the shared one.
      if (shipped && !isDir) await rename(inRelease, target);
      else if (!isDir) await writeFile(target, '');
    }
    await rm(inRelease, { recursive: true, force: true });
    await mkdir(path.dirname(inRelease), { recursive: true });
    await symlink(target, inRelease);
    say(`${rel} -> ${target}\n`);
  }
}

/**
 * `base` joined with `segments`, after checking with `lstat` that no component
 * that exists is a link (the last one included). Components that do not exist yet
 * are fine: they are made as plain folders.
 */
async function walkWithoutLinks(
  base: string,
  segments: string[],
  entry: string,
  where: string,
): Promise<string> {
  let current = base;
  for (const [index, segment] of segments.entries()) {
    current = path.join(current, segment);
    const found = await lstat(current).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (!found) break;
    const walked = segments.slice(0, index + 1).join('/');
    if (found.isSymbolicLink()) {
      throw unsafe(entry, `goes through "${walked}", which is a link ${where}`, walked);
    }
    if (index < segments.length - 1 && !found.isDirectory()) {
      throw unsafe(entry, `goes through "${walked}", which is not a folder ${where}`, walked);
    }
  }
  return path.join(base, ...segments);
}

function unsafe(entry: string, what: string, component?: string): FerryError {
  return new FerryError(
    'E_SHARED_PATH_UNSAFE',
    `The shared path "${entry}" ${what}; nothing was linked for it`,
    component === undefined ? { path: entry } : { path: entry, component },
  );
}
