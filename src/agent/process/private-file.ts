import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes `text` to `file` with mode 0600 (owner only), atomically: a temporary
 * file beside it (hidden, so that no include glob sees it half-written) renamed
 * over it. Leaves a file that already holds `text` with mode 0600 alone.
 * Returns true when it wrote.
 *
 * For the files that hold a service's variables: any other user of the host
 * must not read them.
 *
 * @example
 *   const changed = await writePrivateFile('/srv/ferry/agent/env/ferry-cart.env', text);
 */
export async function writePrivateFile(file: string, text: string): Promise<boolean> {
  const before = await readFile(file, 'utf8').catch(() => null);
  const mode = before === null ? null : (await stat(file)).mode & 0o777;
  if (before === text && mode === 0o600) return false;
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  // A leftover from a crash may have another mode, which writeFile would keep.
  await rm(temporary, { force: true });
  // The mode is given at creation: the secret is never in a readable file, not even briefly.
  await writeFile(temporary, text, { mode: 0o600 });
  await rename(temporary, file);
  return before !== text;
}
