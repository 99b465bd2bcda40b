import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes a file only this user may read (0600), never half-written, even
 * across a power cut: written under a temporary name, flushed to disk (fsync),
 * renamed into place, then the folder flushed so the rename itself is on disk.
 * The temporary name is this write's own: two writers (two processes on one
 * folder, or the CA beside an agent's identity) never rename each other's
 * half-written file. Used for the server's TLS files and the agent's identity
 * and pinned CA.
 *
 * @example
 *   await writePrivateFile(path.join(root, 'agent', 'identity.json'), json);
 */
export async function writePrivateFile(file: string, text: string): Promise<void> {
  const partial = `${file}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(partial, 'wx', 0o600);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.chmod(0o600);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(partial, file);
  } finally {
    await rm(partial, { force: true });
  }
  await syncFolder(path.dirname(file));
}

/** Flushes a folder's entries (a rename into it) to disk. */
async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
