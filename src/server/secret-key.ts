import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { FerryError } from '../protocol/errors.js';
import { loadOrMakeKeyFile } from './key-file.js';

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
  const { key, made } = await loadOrMakeKeyFile(
    file,
    () => `${randomBytes(32).toString('base64')}\n`,
    parseKey,
  );
  return { key, made, file };
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
