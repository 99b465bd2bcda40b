import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { FerryError } from '../protocol/errors.js';

/**
 * Ed25519 signatures over bundles: the server's (over what identifies a bundle,
 * version included) and a developer's (over what the developer knows before the
 * server numbers it). What is signed is a canonical byte string, the same on every
 * side: one line of JSON with its keys in a fixed order (documented in
 * docs/security.md, "Signed bundles"), so that anyone can check a signature with
 * `openssl pkeyutl -verify -rawin`.
 */

/** What the server signs when it accepts a push. */
export interface ServerSignedFields {
  app: string;
  version: number;
  sha256: string;
  size: number;
  label: string | null;
  commit: string | null;
}

/** What a developer signs at push: the version is not known yet. */
export interface DeveloperSignedFields {
  app: string;
  sha256: string;
  label: string | null;
}

/**
 * The bytes the server signs:
 * `{"ferry":"bundle/server/v1","app":…,"version":…,"sha256":…,"size":…,"label":…,"commit":…}`.
 *
 * @example
 *   serverStatement({ app: 'cart', version: 12, sha256, size: 1234, label: '0.4.0', commit: null });
 */
export function serverStatement(fields: ServerSignedFields): Buffer {
  return Buffer.from(
    JSON.stringify({
      ferry: 'bundle/server/v1',
      app: fields.app,
      version: fields.version,
      sha256: fields.sha256,
      size: fields.size,
      label: fields.label,
      commit: fields.commit,
    }),
    'utf8',
  );
}

/** The bytes a developer signs: `{"ferry":"bundle/developer/v1","app":…,"sha256":…,"label":…}`. */
export function developerStatement(fields: DeveloperSignedFields): Buffer {
  return Buffer.from(
    JSON.stringify({
      ferry: 'bundle/developer/v1',
      app: fields.app,
      sha256: fields.sha256,
      label: fields.label,
    }),
    'utf8',
  );
}

/** Signs `statement` with an ed25519 private key; the signature in base64. */
export function signStatement(privateKey: KeyObject, statement: Buffer): string {
  return sign(null, statement, privateKey).toString('base64');
}

/** Whether `signature` (base64) is `publicKey`'s over `statement`; never throws on a bad signature. */
export function verifyStatement(
  publicKey: KeyObject,
  statement: Buffer,
  signature: string,
): boolean {
  const bytes = Buffer.from(signature, 'base64');
  if (bytes.length !== 64 || bytes.toString('base64') !== signature) return false;
  try {
    return verify(null, statement, publicKey, bytes);
  } catch {
    return false;
  }
}

/** The raw 32 bytes of an ed25519 public key, in base64: how keys travel and are configured. */
export function publicKeyText(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  return Buffer.from(jwk.x!, 'base64url').toString('base64');
}

/**
 * A key's fingerprint (of a key, or of its `publicKeyText`), as Ferry shows it: `SHA256:` and the unpadded base64 of
 * the sha256 of its raw 32 bytes (the way `ssh-keygen -l` shows keys).
 */
export function keyFingerprint(key: KeyObject | string): string {
  const raw = Buffer.from(typeof key === 'string' ? key : publicKeyText(key), 'base64');
  return `SHA256:${createHash('sha256').update(raw).digest('base64').replace(/=+$/, '')}`;
}

/**
 * An ed25519 public key from its text: a PEM (`-----BEGIN PUBLIC KEY-----`, as
 * `openssl pkey -pubout` writes it) or its raw 32 bytes in base64 (as
 * `ferry keys create` prints it). `where` names it in the error.
 */
export function parsePublicKey(text: string, where: string): KeyObject {
  const trimmed = text.trim();
  let key: KeyObject;
  try {
    key = trimmed.startsWith('-----BEGIN')
      ? createPublicKey(trimmed)
      : rawPublicKey(Buffer.from(trimmed, 'base64'), trimmed);
  } catch {
    throw badKey(where, 'not an ed25519 public key (a PEM, or its 32 bytes in base64)');
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw badKey(where, `a ${key.asymmetricKeyType ?? 'unknown'} key, not an ed25519 one`);
  }
  return key;
}

/** An ed25519 private key from a PEM (`openssl genpkey -algorithm ed25519`, `ferry keys create`). */
export function parsePrivateKey(text: string, where: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch {
    throw badKey(where, 'not a private key in PEM (make one with `ferry keys create FILE`)');
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw badKey(where, `a ${key.asymmetricKeyType ?? 'unknown'} key, not an ed25519 one`);
  }
  return key;
}

/** A new ed25519 key pair; the private key as PEM (PKCS#8). */
export function newSigningKey(): { privateKeyPem: string; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKey,
  };
}

function rawPublicKey(raw: Buffer, text: string): KeyObject {
  if (raw.length !== 32 || raw.toString('base64') !== text) throw new Error('not 32 bytes');
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') },
    format: 'jwk',
  });
}

function badKey(where: string, problem: string): FerryError {
  return new FerryError('E_KEY_INVALID', `The key in ${where} is ${problem}`, { key: where });
}
