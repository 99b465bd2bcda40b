import {
  developerStatement,
  keyFingerprint,
  parsePublicKey,
  publicKeyText,
  verifyStatement,
} from '../bundle/bundle-signature.js';
import type { BundleRecord, BundleSignature } from '../protocol/api.js';
import { FerryError } from '../protocol/errors.js';
import type { EnvironmentConfig } from './environment-config.js';

/** One developer key the server's configuration names. */
interface NamedKey {
  name: string;
  /** 32 bytes in base64, as signatures carry it. */
  publicKey: string;
  keyId: string;
}

/**
 * The developers' public keys of the server's configuration (`developerKeys`),
 * by name: who signed a bundle, and whether a bundle may enter an environment
 * that requires signatures (`requireSignedBy`).
 *
 * @example
 *   const keys = new DeveloperKeys({ alice: 'MCowBQYDK2VwAyEA…' });
 *   keys.checkEntry(bundle, prodConfig); // throws E_SIGNATURE_REQUIRED
 */
export class DeveloperKeys {
  private readonly keys: NamedKey[];

  constructor(config: Readonly<Record<string, string>>) {
    this.keys = Object.entries(config).map(([name, text]) => {
      const key = parsePublicKey(text, `developerKeys.${name}`);
      return { name, publicKey: publicKeyText(key), keyId: keyFingerprint(key) };
    });
  }

  /** The bundle's signatures with each developer key's name filled in. */
  name<B extends Pick<BundleRecord, 'signatures'>>(bundle: B): B {
    return {
      ...bundle,
      signatures: bundle.signatures.map((s) => ({ ...s, name: this.nameOf(s) })),
    };
  }

  /**
   * Throws `E_SIGNATURE_REQUIRED` unless the environment requires no signature,
   * or one of the keys it names signed this bundle — checked again here over the
   * bundle's record as it is now (app, sha256, label), so that a record changed
   * since the push does not pass.
   */
  checkEntry(bundle: BundleRecord, env: Pick<EnvironmentConfig, 'name' | 'requireSignedBy'>): void {
    if (env.requireSignedBy.length === 0) return;
    const required = this.keys.filter((k) => env.requireSignedBy.includes(k.name));
    const developers = bundle.signatures.filter((s) => s.by === 'developer');
    const statement = developerStatement(bundle);
    const valid = developers.filter(
      (s) =>
        required.some((k) => k.publicKey === s.publicKey) &&
        verifyStatement(parsePublicKey(s.publicKey, 'a signature'), statement, s.signature),
    );
    if (valid.length > 0) return;
    const ref = `${bundle.app}@${bundle.version}`;
    const names = env.requireSignedBy.join(', ');
    let has: string;
    if (developers.length === 0) has = `${ref} is not signed by any developer`;
    else {
      const signers = developers.map((s) => this.nameOf(s) ?? s.keyId);
      const listed = developers.filter((s) => required.some((k) => k.publicKey === s.publicKey));
      has =
        listed.length > 0
          ? `the signature of ${listed.map((s) => this.nameOf(s)).join(', ')} on ${ref} does not match the bundle's record (app, sha256, label changed since it was signed)`
          : `${ref} is signed only by ${signers.join(', ')}, not a key ${env.name} requires`;
    }
    throw new FerryError(
      'E_SIGNATURE_REQUIRED',
      `${env.name} takes only bundles signed by ${names}: ${has}`,
      {
        env: env.name,
        requireSignedBy: env.requireSignedBy,
        bundle: ref,
        signedBy: developers.map((s) => this.nameOf(s) ?? s.keyId),
      },
    );
  }

  private nameOf(signature: Pick<BundleSignature, 'by' | 'publicKey'>): string | null {
    if (signature.by !== 'developer') return null;
    return this.keys.find((k) => k.publicKey === signature.publicKey)?.name ?? null;
  }
}
