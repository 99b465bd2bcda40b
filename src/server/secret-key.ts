import { randomBytes } from 'node:crypto';
import { chmod, link, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FerryError } from '../protocol/errors.js';

/** Where the server keeps its secret key unless the operator gives one. */
export function secretKeyPath(data: string): string {
  return path.join(data, 'secret.key');
}

/**
 * The 32-byte key that seals secret values at rest: the operator's
 * (`FERRY_SECRET_KEY` or `secretKey` in the config file: 32 bytes in base64
 * or hex), or else the one in `<data>/secret.key` (0600), made on the first
 * start. Replicas on one PostgreSQL store must share it. `made` is true when
 * this call made the file. The key itself is never logged or shown.
 *
 * @example
 *   const { key } = await loadSecretKey({ data: '/var/lib/ferry', secretKey: undefined });
 */
export async function loadSecretKey(config: {
  data: string;
  secretKey?: string | undefined;
}): Promise<{ key: Buffer; made: boolean; file: string | null }> {
  if (config.secretKey !== undefined) {
    return {
      key: parseKey(config.secretKey, 'FERRY_SECRET_KEY (or secretKey)'),
      made: false,
      file: null,
    };
  }
  const file = secretKeyPath(config.data);
  const existing = await readKeyFile(file);
  if (existing) return { key: existing, made: false, file };
  // Written under another name, then linked into place: a replica starting at
  // the same time on the same folder finds either no file or the whole key.
  const partial = `${file}.partial-${process.pid}`;
  const key = randomBytes(32);
  await writeFile(partial, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'w' });
  await chmod(partial, 0o600);
  try {
    await link(partial, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const theirs = await readKeyFile(file);
    if (theirs) return { key: theirs, made: false, file };
    throw err;
  } finally {
    await rm(partial, { force: true });
  }
  return { key, made: true, file };
}

async function readKeyFile(file: string): Promise<Buffer | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  // A key file someone made readable is made the server's own again.
  if (((await stat(file)).mode & 0o077) !== 0) await chmod(file, 0o600);
  return parseKey(text, file);
}

/** 32 bytes, in base64 (44 characters) or hex (64); the message never repeats the value. */
function parseKey(text: string, where: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed)
    ? Buffer.from(trimmed, 'hex')
    : Buffer.from(trimmed, 'base64');
  if (
    key.length !== 32 ||
    (!/^[0-9a-fA-F]{64}$/.test(trimmed) && key.toString('base64') !== trimmed)
  ) {
    throw new FerryError(
      'E_CONFIG_INVALID',
      `The secret key in ${where} is not 32 bytes in base64 or hex (make one with: openssl rand -base64 32)`,
      { problems: [`secretKey: not a 32-byte key`] },
    );
  }
  return key;
}
