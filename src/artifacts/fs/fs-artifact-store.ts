import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { ArtifactStore, ArtifactUpload } from '../artifact-store.js';

/**
 * Bundles in a folder: `objects/ab/abcdef…` by sha256, uploads written under
 * `tmp/` on the same file system and renamed into place, so a reader never sees
 * half a file. Folders are 0700 and files 0600: bundles are the server's alone.
 */
export class FsArtifactStore implements ArtifactStore {
  constructor(private readonly root: string) {}

  /**
   * Makes the folders, and removes uploads a crash left behind. The folder may be
   * shared by several server replicas, so only uploads older than
   * `staleAfterMs` go: another replica's upload under way is never touched (an
   * upload that stalls is cut off long before that).
   */
  async init(staleAfterMs = 60 * 60 * 1000): Promise<void> {
    await mkdir(this.tmpDir(), { recursive: true, mode: 0o700 });
    await mkdir(path.join(this.root, 'objects'), { recursive: true, mode: 0o700 });
    // Folders an older Ferry made 0755: closing them closes every bundle in them.
    for (const dir of [this.root, this.tmpDir(), path.join(this.root, 'objects')]) {
      await chmod(dir, 0o700);
    }
    const now = Date.now();
    for (const entry of await readdir(this.tmpDir())) {
      const file = path.join(this.tmpDir(), entry);
      const info = await stat(file).catch(() => undefined);
      if (info && now - info.mtimeMs > staleAfterMs)
        await rm(file, { recursive: true, force: true });
    }
  }

  beginUpload(): Promise<ArtifactUpload> {
    const temp = path.join(this.tmpDir(), `upload-${randomBytes(8).toString('hex')}`);
    const stream = createWriteStream(temp, {
      flags: 'wx',
      mode: 0o600,
      highWaterMark: 1024 * 1024,
    });
    const upload: ArtifactUpload = {
      stream,
      commit: async (sha256) => {
        const target = this.objectPath(sha256);
        // The bytes reach the disk before the record does, so a record never points
        // at a bundle that a power cut left empty. Only kept uploads pay for it.
        await syncPath(temp, 'r+');
        await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
        await rename(temp, target);
        await syncPath(path.dirname(target), 'r');
      },
      discard: async () => {
        // Wait for the stream to let go of the file: one still opening would
        // create it again after the removal.
        if (!stream.closed) {
          const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
          stream.destroy();
          await closed;
        }
        await rm(temp, { force: true });
      },
    };
    return Promise.resolve(upload);
  }

  async size(sha256: string): Promise<number | undefined> {
    try {
      return (await stat(this.objectPath(sha256))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  read(sha256: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.objectPath(sha256), { ...range, highWaterMark: 1024 * 1024 });
  }

  async delete(sha256: string): Promise<void> {
    await rm(this.objectPath(sha256), { force: true });
  }

  /** The file of one artifact (for tests and tools). */
  objectPath(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    return path.join(this.root, 'objects', sha256.slice(0, 2), sha256);
  }

  tmpDir(): string {
    return path.join(this.root, 'tmp');
  }
}

/** Flushes a file's data, or a folder's entries (a rename in it), to the disk. */
async function syncPath(target: string, flags: 'r' | 'r+'): Promise<void> {
  const handle = await open(target, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
