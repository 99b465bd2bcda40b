import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import path from 'node:path';
import {
  keyFingerprint,
  newSigningKey,
  parsePrivateKey,
  publicKeyText,
  serverStatement,
  signStatement,
} from '../bundle/bundle-signature.js';
import { loadOrMakeKeyFile } from './key-file.js';
import type { BundleRecord } from '../protocol/api.js';
import { FerryError } from '../protocol/errors.js';
import type { Store, StoredSignature } from '../store/store.js';

/** Where the server keeps its bundle-signing key unless the operator gives one. */
export function signingKeyPath(data: string): string {
  return path.join(data, 'signing.key');
}

/**
 * The server's ed25519 key that signs every bundle it accepts. Agents check each
 * bundle against its public half, which they get at enrolment.
 *
 * @example
 *   const key = await ServerSigningKey.load({ data: '/var/lib/ferry' });
 *   const signature = key.sign(bundle);
 */
export class ServerSigningKey {
  /** The public key, 32 bytes in base64: what agents keep. */
  readonly publicKey: string;
  /** The public key's fingerprint, `SHA256:…`. */
  readonly keyId: string;

  private constructor(
    private readonly privateKey: KeyObject,
    /** True when loading made the key file (a first start). */
    readonly made: boolean,
    /** The key file; null when the key came from the configuration. */
    readonly file: string | null,
  ) {
    const pub = createPublicKey(privateKey);
    this.publicKey = publicKeyText(pub);
    this.keyId = keyFingerprint(pub);
  }

  /** A new key held in memory only: for a server built without one (tests). */
  static ephemeral(): ServerSigningKey {
    return ServerSigningKey.fromPem(newSigningKey().privateKeyPem);
  }

  /** A key from PEM text, for tests and tools. */
  static fromPem(pem: string): ServerSigningKey {
    return new ServerSigningKey(parsePrivateKey(pem, 'the signing key'), false, null);
  }

  /**
   * The operator's key (`FERRY_SIGNING_KEY` or `signingKey` in the config file: an
   * ed25519 private key in PEM), or else the one in `<data>/signing.key` (0600),
   * made on the first start — as the secret key is. Replicas of one store must
   * sign with the same key: they share the data folder, or are given the same
   * `FERRY_SIGNING_KEY`. The private key is never logged or shown.
   */
  static async load(config: {
    data: string;
    signingKey?: string | undefined;
  }): Promise<ServerSigningKey> {
    if (config.signingKey !== undefined) {
      return new ServerSigningKey(
        parsePrivateKey(config.signingKey, 'FERRY_SIGNING_KEY (or signingKey)'),
        false,
        null,
      );
    }
    const file = signingKeyPath(config.data);
    const { key, made } = await loadOrMakeKeyFile(
      file,
      () => newSigningKey().privateKeyPem,
      parsePrivateKey,
    );
    return new ServerSigningKey(key, made, file);
  }

  /** The server's signature over a bundle's record (see `serverStatement`). */
  sign(
    bundle: Pick<BundleRecord, 'app' | 'version' | 'sha256' | 'size' | 'label' | 'commit'>,
  ): StoredSignature {
    return {
      publicKey: this.publicKey,
      signature: signStatement(this.privateKey, serverStatement(bundle)),
    };
  }

  /**
   * On start: checks that the store's bundles are signed with this key — the
   * first server to start records it, and a replica with another key stops
   * (`E_SIGNING_KEY_MISMATCH`) — and finds the bundles without the server's
   * signature. Those are never signed on their own: a row without a signature
   * is what someone who rewrote the store would leave, and signing it would
   * bless the rewrite. Only the operator's explicit `signUnsigned` (`ferry
   * server --sign-unsigned-bundles`, once, after checking them) signs them,
   * trusting the store as it is then. Safe for replicas at once: ed25519
   * signatures are deterministic, and a bundle signed meanwhile is left alone.
   *
   * @example
   *   const { unsigned } = await key.prepareStore(store);
   *   const { signed } = await key.prepareStore(store, { signUnsigned: true });
   */
  async prepareStore(
    store: Pick<Store, 'bundles'>,
    options: { signUnsigned?: boolean } = {},
  ): Promise<{ signed: BundleRef[]; unsigned: BundleRef[] }> {
    const recorded = await store.bundles.claimSigningKey(this.publicKey);
    if (recorded !== this.publicKey) {
      throw new FerryError(
        'E_SIGNING_KEY_MISMATCH',
        `This store's bundles are signed with the key ${keyFingerprint(recorded)}, but this server's signing key is ${this.keyId}: every replica of one store must have the same key (FERRY_SIGNING_KEY, signingKey in the config, or <data>/signing.key)`,
        { storeKey: keyFingerprint(recorded), serverKey: this.keyId },
      );
    }
    if (options.signUnsigned !== true) {
      const unsigned = await store.bundles.listUnsigned(UNSIGNED_SHOWN);
      return { signed: [], unsigned: unsigned.map(refOf) };
    }
    const signed: BundleRef[] = [];
    for (;;) {
      const unsigned = await store.bundles.listUnsigned(500);
      if (unsigned.length === 0) break;
      let round = 0;
      for (const bundle of unsigned) {
        const signature = this.sign(bundle);
        if (
          await store.bundles.setServerSignature(
            bundle.app,
            bundle.version,
            bundle.sha256,
            signature,
          )
        ) {
          round += 1;
          signed.push(refOf(bundle));
        }
      }
      // Another replica signing the same ones makes this round sign fewer; one
      // that signs none has nothing left to do.
      if (unsigned.length < 500 || round === 0) break;
    }
    return { signed, unsigned: [] };
  }
}

/** How many unsigned bundles a start names at most (it says when there may be more). */
export const UNSIGNED_SHOWN = 50;

/** A bundle as the server's log names it. */
export interface BundleRef {
  app: string;
  version: number;
  sha256: string;
}

function refOf(bundle: BundleRef): BundleRef {
  return { app: bundle.app, version: bundle.version, sha256: bundle.sha256 };
}
