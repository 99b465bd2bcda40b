import { readFile, readdir, readlink, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';

/**
 * Written into a release once its install commands (and migrations, when asked)
 * have succeeded, with the bundle's sha256: a release that has it can be
 * switched back to without fetching or installing anything (a rollback).
 */
export const INSTALLED_MARKER = '.ferry-installed';

/** True when a release folder holds a complete install of the bundle with this sha256. */
export async function isInstalled(releaseDir: string, sha256: string): Promise<boolean> {
  try {
    return (await readFile(path.join(releaseDir, INSTALLED_MARKER), 'utf8')).trim() === sha256;
  } catch {
    return false;
  }
}

/** The version `current` points at, or null. */
export async function currentVersion(currentLink: string): Promise<number | null> {
  try {
    const target = await readlink(currentLink);
    const version = Number(path.basename(target));
    return Number.isInteger(version) ? version : null;
  } catch {
    return null;
  }
}

/** Points `current` at a release with one atomic rename. */
export async function switchCurrent(appDir: string, version: number): Promise<void> {
  const temp = path.join(appDir, `.current-${process.pid}`);
  await rm(temp, { force: true });
  await symlink(path.join('releases', String(version)), temp);
  await rename(temp, path.join(appDir, 'current'));
}

/** The sha256 of the bundle of every installed release on the host, of every app. */
export async function installedBundles(appsDir: string): Promise<Set<string>> {
  const installed = new Set<string>();
  for (const app of await readdir(appsDir).catch(() => [])) {
    const releasesDir = path.join(appsDir, app, 'releases');
    for (const version of await readdir(releasesDir).catch(() => [])) {
      const marker = path.join(releasesDir, version, INSTALLED_MARKER);
      const sha256 = (await readFile(marker, 'utf8').catch(() => '')).trim();
      if (sha256 !== '') installed.add(sha256);
    }
  }
  return installed;
}
