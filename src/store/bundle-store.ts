import type { AppSummary, BundleDetail, BundleRecord } from '../protocol/api.js';

/** What the server knows of a bundle before it has a version. */
export interface NewBundle {
  app: string;
  sha256: string;
  size: number;
  label: string | null;
  commit: string | null;
  dirty: boolean | null;
  fileCount: number;
  createdAt: string;
  pushedBy: string;
  /** The app's resolved manifest section, as the bundle carries it. */
  manifest: Record<string, unknown>;
  /** Developers' signatures sent with the push, checked already. */
  developerSignatures?: StoredSignature[];
}

/** A signature as the store keeps it: the public key (32 bytes in base64) and the signature (base64). */
export interface StoredSignature {
  publicKey: string;
  signature: string;
}

/** Signs a bundle once it has its version: the server's signature over its record. */
export type BundleSigner = (bundle: BundleRecord) => StoredSignature;

/** The result of recording a push: the bundle, and whether it is new. */
export interface RecordedBundle {
  bundle: BundleRecord;
  /** False when the app already had a bundle with this sha256; that one is returned. */
  created: boolean;
}

/**
 * The store's bundles and the apps they belong to: each app's version series.
 *
 * @example
 *   const { bundle } = await store.bundles.record(pushed, () => moveIntoPlace());
 *   const latest = await store.bundles.list('cart', { limit: 1 });
 */
export interface BundleStore {
  /**
   * Records a pushed bundle: in one transaction, returns the app's bundle with the
   * same sha256 if there is one, or else assigns `version = last + 1`, records the
   * bundle, and calls `beforeCommit` (which moves the file into place) before
   * committing — if it throws, nothing is recorded.
   */
  record(
    bundle: NewBundle,
    beforeCommit: () => Promise<void>,
    sign?: BundleSigner,
  ): Promise<RecordedBundle>;
  /**
   * Adds a developer's signature to a bundle (a push of the same bytes, signed);
   * one already there with the same key is replaced. Returns the bundle.
   */
  addDeveloperSignature(
    app: string,
    version: number,
    signature: StoredSignature,
  ): Promise<BundleRecord | undefined>;
  /** Bundles the server has not signed (recorded before signatures), oldest first. */
  listUnsigned(limit: number): Promise<BundleRecord[]>;
  /**
   * Records the server's signature of a bundle that had none, if its sha256 is
   * still `sha256`; false when it was signed meanwhile or changed.
   */
  setServerSignature(
    app: string,
    version: number,
    sha256: string,
    signature: StoredSignature,
  ): Promise<boolean>;
  /**
   * The server's signing key as the store knows it: the first call records
   * `publicKey`; every call answers the one recorded (replicas compare theirs).
   */
  claimSigningKey(publicKey: string): Promise<string>;
  get(app: string, version: number): Promise<BundleDetail | undefined>;
  /** An app's bundles, newest first. */
  list(app: string, options?: { limit?: number }): Promise<BundleRecord[]>;
  /** Every bundle pushed with a label, across apps, by app then version. */
  listByLabel(label: string): Promise<BundleRecord[]>;
  /** Every bundle pushed with a label, with its manifest section, by app then version (one query). */
  listDetailsByLabel(label: string): Promise<BundleDetail[]>;
  hasApp(app: string): Promise<boolean>;
  listApps(): Promise<AppSummary[]>;
}
