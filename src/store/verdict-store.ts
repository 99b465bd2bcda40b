import type { VerdictRecord, VerdictState } from '../protocol/api.js';

/**
 * QA's verdicts on bundles: every change kept, newest first; a bundle with
 * none is `pending`.
 *
 * @example
 *   const { previous } = await store.verdicts.record({ app: 'cart', version: 12,
 *     verdict: 'passed', note: null, by: 'carol', at: now });
 *   await store.verdicts.current('cart', 12); // 'passed'
 */
export interface VerdictStore {
  /**
   * Adds a change to a bundle's verdict history and returns the verdict it had
   * just before, read in the same transaction.
   */
  record(verdict: VerdictRecord): Promise<{ previous: VerdictState }>;
  /** A bundle's verdict changes, newest first. */
  list(app: string, version: number): Promise<VerdictRecord[]>;
  /** A bundle's verdict now: its latest change, or `pending`. */
  current(app: string, version: number): Promise<VerdictState>;
  /** Every verdict change of an app's bundles, newest first. */
  listByApp(app: string): Promise<VerdictRecord[]>;
}
