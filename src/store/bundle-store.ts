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
}

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
  record(bundle: NewBundle, beforeCommit: () => Promise<void>): Promise<RecordedBundle>;
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
