import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  developerStatement,
  keyFingerprint,
  newSigningKey,
  parsePrivateKey,
  parsePublicKey,
  publicKeyText,
  serverStatement,
  signStatement,
  verifyStatement,
} from './bundle-signature.js';

const fields = {
  app: 'cart',
  version: 12,
  sha256: 'ab'.repeat(32),
  size: 1234,
  label: '0.4.0',
  commit: null,
};

describe('bundle signatures', () => {
  it('signs the documented bytes', () => {
    expect(serverStatement(fields).toString()).toBe(
      `{"ferry":"bundle/server/v1","app":"cart","version":12,"sha256":"${'ab'.repeat(32)}","size":1234,"label":"0.4.0","commit":null}`,
    );
    expect(developerStatement(fields).toString()).toBe(
      `{"ferry":"bundle/developer/v1","app":"cart","sha256":"${'ab'.repeat(32)}","label":"0.4.0"}`,
    );
  });

  it('verifies a signature over the same fields only, with the same key only', () => {
    const { privateKeyPem, publicKey } = newSigningKey();
    const key = parsePrivateKey(privateKeyPem, 'test');
    const signature = signStatement(key, serverStatement(fields));
    expect(verifyStatement(publicKey, serverStatement(fields), signature)).toBe(true);
    for (const changed of [
      { sha256: 'cd'.repeat(32) },
      { size: 1235 },
      { version: 13 },
      { label: null },
    ])
      expect(
        verifyStatement(publicKey, serverStatement({ ...fields, ...changed }), signature),
      ).toBe(false);
    expect(verifyStatement(newSigningKey().publicKey, serverStatement(fields), signature)).toBe(
      false,
    );
    expect(verifyStatement(publicKey, serverStatement(fields), 'not base64!')).toBe(false);
  });

  it('reads a public key as PEM or as its 32 bytes in base64, with one fingerprint', () => {
    const { publicKey } = newSigningKey();
    const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const raw = publicKeyText(publicKey);
    expect(Buffer.from(raw, 'base64')).toHaveLength(32);
    expect(keyFingerprint(parsePublicKey(pem, 'a'))).toBe(keyFingerprint(parsePublicKey(raw, 'b')));
    expect(keyFingerprint(raw)).toBe(keyFingerprint(publicKey));
    expect(keyFingerprint(raw)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('refuses what is not an ed25519 key, naming where it came from', () => {
    expect(() => parsePublicKey('bm90IGEga2V5', 'developerKeys.alice')).toThrow(
      /developerKeys\.alice is not an ed25519 public key/,
    );
    expect(() => parsePrivateKey('nope', 'key.pem')).toThrow(/key\.pem is not a private key/);
  });

  it('makes signatures that openssl verifies, and reads keys openssl makes', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-sig-'));
    try {
      execFileSync('openssl', [
        'genpkey',
        '-algorithm',
        'ed25519',
        '-out',
        path.join(dir, 'k.pem'),
      ]);
      const pem = execFileSync('cat', [path.join(dir, 'k.pem')]).toString();
      const pub = execFileSync('openssl', [
        'pkey',
        '-in',
        path.join(dir, 'k.pem'),
        '-pubout',
      ]).toString();
      const statement = developerStatement(fields);
      await writeFile(path.join(dir, 'statement'), statement);
      await writeFile(
        path.join(dir, 'sig'),
        Buffer.from(signStatement(parsePrivateKey(pem, 'k.pem'), statement), 'base64'),
      );
      await writeFile(path.join(dir, 'pub.pem'), pub);
      const out = execFileSync('openssl', [
        'pkeyutl',
        '-verify',
        '-pubin',
        '-inkey',
        path.join(dir, 'pub.pem'),
        '-rawin',
        '-in',
        path.join(dir, 'statement'),
        '-sigfile',
        path.join(dir, 'sig'),
      ]).toString();
      expect(out).toContain('Signature Verified Successfully');
      expect(parsePublicKey(pub, 'pub.pem').asymmetricKeyType).toBe('ed25519');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
