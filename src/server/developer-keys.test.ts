import { createPublicKey } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import {
  developerStatement,
  keyFingerprint,
  newSigningKey,
  parsePrivateKey,
  publicKeyText,
  serverStatement,
  signStatement,
} from '../bundle/bundle-signature.js';
import type { BundleRecord } from '../protocol/api.js';
import { failure } from '../../test/helpers/failure.js';
import type * as Signature from '../bundle/bundle-signature.js';
import { DeveloperKeys } from './developer-keys.js';

// The real verification, counted: a bundle checked again is not verified again.
const verifications = vi.hoisted(() => ({ count: 0 }));
vi.mock('../bundle/bundle-signature.js', async (real) => {
  const actual = await real<typeof Signature>();
  return {
    ...actual,
    verifyStatement: (...args: Parameters<typeof actual.verifyStatement>) => {
      verifications.count++;
      return actual.verifyStatement(...args);
    },
  };
});

function developer() {
  const { privateKeyPem } = newSigningKey();
  const key = parsePrivateKey(privateKeyPem, 'k');
  const publicKey = publicKeyText(createPublicKey(key));
  return {
    publicKey,
    serverSignature: (b: BundleRecord) => ({
      by: 'server' as const,
      keyId: keyFingerprint(publicKey),
      name: null,
      publicKey,
      signature: signStatement(key, serverStatement(b)),
    }),
    sign: (b: Pick<BundleRecord, 'app' | 'sha256' | 'label'>) => ({
      by: 'developer' as const,
      keyId: keyFingerprint(publicKey),
      name: null,
      publicKey,
      signature: signStatement(key, developerStatement(b)),
    }),
  };
}

const server = (() => {
  const made = developer();
  return { publicKey: made.publicKey, signature: made.serverSignature };
})();
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

  it('names the signers it knows, once their signature holds', () => {
    const carol = developer();
    const named = keys.checked<BundleRecord>(
      { ...bundle, signatures: [alice.sign(bundle), carol.sign(bundle)] },
      server.publicKey,
    );
    expect(named.signatures.map((s) => [s.name, s.verified, s.problem])).toEqual([
      ['alice', true, null],
      [null, true, null],
    ]);
  });

  it("checks each signature over the record as it is now, the server's with its own key", () => {
    const signed = {
      ...bundle,
      signatures: [server.signature(bundle), alice.sign(bundle)],
    };
    expect(
      keys.checked<BundleRecord>(signed, server.publicKey).signatures.map((s) => s.verified),
    ).toEqual([true, true]);
    // The record changed since it was signed: neither holds, and alice is not named.
    const changed = keys.checked<BundleRecord>({ ...signed, label: '1.0-evil' }, server.publicKey);
    expect(changed.signatures.map((s) => [s.name, s.verified])).toEqual([
      [null, false],
      [null, false],
    ]);
    expect(changed.signatures[0]!.problem).toContain(
      'the record changed since the server signed it',
    );
    expect(changed.signatures[1]!.problem).toContain('the record changed since it was signed');
    // A "server" signature by a key that is not this server's, however well it verifies.
    const other = developer();
    const forged = keys.checked<BundleRecord>(
      { ...bundle, signatures: [{ ...other.serverSignature(bundle) }] },
      server.publicKey,
    );
    expect(forged.signatures[0]).toMatchObject({ verified: false, name: null });
    expect(forged.signatures[0]!.problem).toMatch(
      /^made with the key SHA256:\S+, not this server's signing key SHA256:/,
    );
  });

  it('verifies a signature once, and again only when the record it holds over changed', () => {
    const own = new DeveloperKeys({ alice: alice.publicKey });
    const record = { ...bundle, version: 9 };
    const signed: BundleRecord = {
      ...record,
      signatures: [server.signature(record), alice.sign(record)],
    };
    const before = verifications.count;
    const first = own.checked(signed, server.publicKey);
    expect(verifications.count - before).toBe(2);
    expect(first.signatures.map((s) => s.verified)).toEqual([true, true]);
    const again = own.checked({ ...signed }, server.publicKey);
    expect(verifications.count - before).toBe(2);
    expect(again.signatures).toEqual(first.signatures);
    // The label changed since it was signed: checked again, and found not to hold.
    const changed = own.checked({ ...signed, label: '2.0' }, server.publicKey);
    expect(verifications.count - before).toBe(4);
    expect(changed.signatures.map((s) => s.verified)).toEqual([false, false]);
  });
});
