import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, rmdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** A small file system mounted for a test: a disk that fills up. */
export interface SmallDisk {
  dir: string;
  /** Writes a file until the disk is full (ENOSPC); answers its path. */
  fill(name?: string): Promise<string>;
  unmount(): Promise<void>;
}

/**
 * Mounts a tmpfs of `sizeMb` at `dir` (made if missing), or answers null when
 * this machine does not allow it (not root, no mount): full-disk tests skip then.
 */
export async function mountSmallDisk(sizeMb: number, dir?: string): Promise<SmallDisk | null> {
  const target = dir ?? (await mkdtemp(path.join(os.tmpdir(), 'ferry-small-disk-')));
  await mkdir(target, { recursive: true });
  try {
    execFileSync(
      'mount',
      ['-t', 'tmpfs', '-o', `size=${Math.round(sizeMb * 1024)}k`, 'tmpfs', target],
      {
        stdio: 'ignore',
      },
    );
  } catch {
    await rmdir(target).catch(() => undefined);
    return null;
  }
  return {
    dir: target,
    async fill(name = 'filler') {
      const file = path.join(target, name);
      const handle = await open(file, 'w');
      const chunk = Buffer.alloc(64 * 1024, 1);
      try {
        for (;;) await handle.write(chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
      // The last bytes that fit, in smaller pieces.
      try {
        for (;;) await handle.write(Buffer.alloc(512, 1));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      } finally {
        await handle.close();
      }
      return file;
    },
    async unmount() {
      execFileSync('umount', ['-l', target], { stdio: 'ignore' });
      await rm(target, { recursive: true, force: true });
    },
  };
}

/** Whether this machine lets tests mount a tmpfs (checked once). */
export async function canMountSmallDisk(): Promise<boolean> {
  const disk = await mountSmallDisk(1);
  if (!disk) return false;
  await disk.unmount();
  return true;
}
