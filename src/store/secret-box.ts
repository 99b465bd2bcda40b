import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { FerryError } from '../protocol/errors.js';

/** What every sealed value starts with; the key id follows, then iv, tag and ciphertext. */
const PREFIX = 'ferry:sealed:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Seals values the store keeps at rest (secret variables, queued jobs that
 * carry them) with AES-256-GCM under the server's 32-byte key, so a copied
 * database alone does not reveal them. A sealed value names the key it was
 * sealed with (a hash of it, not the key), so a server holding another key
 * says so (`E_SECRET_KEY_MISMATCH`) instead of decrypting garbage. Each value
 * is bound to its `context` (which row it belongs to): a sealed value moved to
 * another row does not open.
 *
 * @example
 *   const box = new SecretBox(randomBytes(32));
 *   const sealed = box.seal('hunter2', 'variable:DB_PASSWORD:env:qa');
 *   box.open(sealed, 'variable:DB_PASSWORD:env:qa'); // 'hunter2'
 */
export class SecretBox {
  /** A short, public name of the key: the first 8 bytes of a hash of it, in hex. */
  readonly keyId: string;

  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('the secret key must be 32 bytes');
    this.keyId = keyIdOf(key);
  }

  /** Whether a stored value is in the sealed form (else it is plaintext from before sealing). */
  static isSealed(value: string): boolean {
    return value.startsWith(PREFIX);
  }

  /** The id of the key a sealed value was sealed with. */
  static sealedWith(value: string): string {
    return value.slice(PREFIX.length).split(':', 1)[0] ?? '';
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const sealed = Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
    return `${PREFIX}${this.keyId}:${sealed}`;
  }

  open(sealed: string, context: string): string {
    const keyId = SecretBox.sealedWith(sealed);
    if (keyId !== this.keyId) throw keyMismatch(keyId, this.keyId);
    const raw = Buffer.from(sealed.slice(PREFIX.length + keyId.length + 1), 'base64url');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([
        decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    } catch (err) {
      throw new FerryError(
        'E_SECRET_KEY_MISMATCH',
        'A sealed value in the store does not open with this server’s secret key: it was altered, or moved from another row',
        { keyId },
        { cause: err },
      );
    }
  }
}

/** The error of a server that holds another key than the one the store's secrets were sealed with. */
export function keyMismatch(storeKeyId: string, serverKeyId: string | null): FerryError {
  return new FerryError(
    'E_SECRET_KEY_MISMATCH',
    `The store's secrets are sealed with the secret key ${storeKeyId}, and this server ${
      serverKeyId === null ? 'has no key' : `has the key ${serverKeyId}`
    }: every replica of one store must have the same key (FERRY_SECRET_KEY, secretKey in the config, or <data>/secret.key)`,
    { storeKeyId, serverKeyId },
  );
}

function keyIdOf(key: Buffer): string {
  return createHash('sha256')
    .update('ferry secret key id\0')
    .update(key)
    .digest('hex')
    .slice(0, 16);
}
