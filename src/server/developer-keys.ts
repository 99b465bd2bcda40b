import {
  developerStatement,
  keyFingerprint,
  parsePublicKey,
  publicKeyText,
  serverStatement,
  verifyStatement,
} from '../bundle/bundle-signature.js';
import type { BundleRecord, BundleSignature } from '../protocol/api.js';
import { FerryError } from '../protocol/errors.js';
import type { EnvironmentConfig } from './environment-config.js';

/** How many signature verdicts `DeveloperKeys` remembers (a few MB at most). */
const VERDICTS_KEPT = 10_000;

/** What a signature is checked over: the fields the server and developers sign. */
type SignedRecord = Pick<
  BundleRecord,
  'app' | 'version' | 'sha256' | 'size' | 'label' | 'commit' | 'signatures'
>;

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
  /**
   * The verdicts of signatures already checked, by what they were checked
   * over (kind, key, signature, record): a bundle listed again is not verified
   * again. Bounded: the oldest are dropped first.
   */
  private readonly verdicts = new Map<string, string | null>();

  constructor(config: Readonly<Record<string, string>>) {
    this.keys = Object.entries(config).map(([name, text]) => {
      const key = parsePublicKey(text, `developerKeys.${name}`);
      return { name, publicKey: publicKeyText(key), keyId: keyFingerprint(key) };
    });
  }

  /**
   * The bundle's signatures checked over its record as it is now: each one
   * `verified` (the server's with `serverKey`, this server's public key), or
   * not with the `problem`; a developer key's name filled in only for a
   * signature that holds, since a key alone proves nothing.
   *
   * @example
   *   const answer = keys.checked(bundle, signingKey.publicKey);
   */
  checked<B extends SignedRecord>(bundle: B, serverKey: string): B {
    return {
      ...bundle,
      signatures: bundle.signatures.map((s) => {
        const problem = this.problemOf(bundle, s, serverKey);
        return {
          ...s,
          name: problem === null ? this.nameOf(s) : null,
          verified: problem === null,
          problem,
        };
      }),
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

  /** `signatureProblem`, remembered (see `verdicts`). */
  private problemOf(bundle: SignedRecord, s: BundleSignature, serverKey: string): string | null {
    if (s.by === 'server' && s.publicKey !== serverKey)
      return signatureProblem(bundle, s, serverKey);
    const statement = s.by === 'server' ? serverStatement(bundle) : developerStatement(bundle);
    const key = `${s.by}\0${s.publicKey}\0${s.signature}\0${statement.toString('base64')}`;
    const known = this.verdicts.get(key);
    if (known !== undefined) return known;
    const problem = signatureProblem(bundle, s, serverKey);
    if (this.verdicts.size >= VERDICTS_KEPT) {
      this.verdicts.delete(this.verdicts.keys().next().value!);
    }
    this.verdicts.set(key, problem);
    return problem;
  }

  private nameOf(signature: Pick<BundleSignature, 'by' | 'publicKey'>): string | null {
    if (signature.by !== 'developer') return null;
    return this.keys.find((k) => k.publicKey === signature.publicKey)?.name ?? null;
  }
}

/** Why a signature does not hold over the bundle's record as it is, or null when it does. */
function signatureProblem(
  bundle: SignedRecord,
  s: BundleSignature,
  serverKey: string,
): string | null {
  if (s.by === 'server' && s.publicKey !== serverKey) {
    return `made with the key ${s.keyId}, not this server's signing key ${keyFingerprint(serverKey)}`;
  }
  let key;
  try {
    key = parsePublicKey(s.publicKey, 'the signature');
  } catch {
    return 'its public key is not an ed25519 key';
  }
  const statement = s.by === 'server' ? serverStatement(bundle) : developerStatement(bundle);
  if (verifyStatement(key, statement, s.signature)) return null;
  return s.by === 'server'
    ? "does not verify over the bundle's record (app, version, sha256, size, label, commit): the record changed since the server signed it"
    : "does not verify over the bundle's record (app, sha256, label): the record changed since it was signed, or the signature is not that key's";
}
