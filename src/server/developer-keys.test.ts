import { createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  developerStatement,
  keyFingerprint,
  newSigningKey,
  parsePrivateKey,
  publicKeyText,
  signStatement,
} from '../bundle/bundle-signature.js';
import type { BundleRecord } from '../protocol/api.js';
import { failure } from '../../test/helpers/failure.js';
import { DeveloperKeys } from './developer-keys.js';

function developer() {
  const { privateKeyPem } = newSigningKey();
  const key = parsePrivateKey(privateKeyPem, 'k');
  const publicKey = publicKeyText(createPublicKey(key));
  return {
    publicKey,
    sign: (b: Pick<BundleRecord, 'app' | 'sha256' | 'label'>) => ({
      by: 'developer' as const,
      keyId: keyFingerprint(publicKey),
      name: null,
      publicKey,
      signature: signStatement(key, developerStatement(b)),
    }),
  };
}

const alice = developer();
const bob = developer();
const keys = new DeveloperKeys({ alice: alice.publicKey, bob: bob.publicKey });
const prod = { name: 'prod', requireSignedBy: ['alice'] };
const bundle: BundleRecord = {
  app: 'cart',
  version: 4,
  label: '1.0',
  commit: null,
  dirty: null,
  sha256: 'c'.repeat(64),
  size: 1,
  fileCount: 1,
  createdAt: '',
  pushedAt: '',
  pushedBy: 'alice',
  signatures: [],
};

const refusal = (b: BundleRecord) =>
  failure(Promise.resolve().then(() => keys.checkEntry(b, prod)));

describe('developer keys', () => {
  it('lets in any bundle where nothing is required, and one a listed key signed', () => {
    expect(() => keys.checkEntry(bundle, { name: 'qa', requireSignedBy: [] })).not.toThrow();
    expect(() =>
      keys.checkEntry({ ...bundle, signatures: [alice.sign(bundle)] }, prod),
    ).not.toThrow();
  });

  it('refuses an unsigned bundle, one signed by another key, and one whose record changed', async () => {
    expect((await refusal(bundle)).message).toBe(
      'prod takes only bundles signed by alice: cart@4 is not signed by any developer',
    );
    const byBob = await refusal({ ...bundle, signatures: [bob.sign(bundle)] });
    expect(byBob.code).toBe('E_SIGNATURE_REQUIRED');
    expect(byBob.details).toMatchObject({
      env: 'prod',
      requireSignedBy: ['alice'],
      signedBy: ['bob'],
    });
    const changed = await refusal({
      ...bundle,
      label: '1.0-evil',
      signatures: [alice.sign(bundle)],
    });
    expect(changed.message).toContain('the signature of alice on cart@4 does not match');
  });

  it('names the signers it knows', () => {
    const carol = developer();
    const named = keys.name({ signatures: [alice.sign(bundle), carol.sign(bundle)] });
    expect(named.signatures.map((s) => s.name)).toEqual(['alice', null]);
  });
});
