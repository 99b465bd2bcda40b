import { chmod, link, readFile, rm, stat, writeFile } from 'node:fs/promises';

/**
 * A key the server keeps in a file of its data folder (0600): the one there,
 * or else a new one (`make`) written under another name and linked into
 * place — a replica starting at the same time on the same folder finds either
 * no file or the whole key, and both use the same. `made` is true when this
 * call made the file. A key file someone made readable is made 0600 again.
 *
 * @example
 *   const { key, made } = await loadOrMakeKeyFile(file, () => newKeyText(), parseKey);
 */
export async function loadOrMakeKeyFile<K>(
  file: string,
  make: () => string,
  parse: (text: string, where: string) => K,
): Promise<{ key: K; made: boolean }> {
  const existing = await readKeyFile(file, parse);
  if (existing !== undefined) return { key: existing, made: false };
  const partial = `${file}.partial-${process.pid}`;
  const text = make();
  await writeFile(partial, text, { mode: 0o600, flag: 'w' });
  await chmod(partial, 0o600);
  try {
    await link(partial, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const theirs = await readKeyFile(file, parse);
    if (theirs !== undefined) return { key: theirs, made: false };
    throw err;
  } finally {
    await rm(partial, { force: true });
  }
  return { key: parse(text, file), made: true };
}

async function readKeyFile<K>(
  file: string,
  parse: (text: string, where: string) => K,
): Promise<K | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (((await stat(file)).mode & 0o077) !== 0) await chmod(file, 0o600);
  return parse(text, file);
}
