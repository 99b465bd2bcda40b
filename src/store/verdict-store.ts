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
   * just before, read in the same transaction. With a `condition`, the change
   * is recorded only if it holds in that transaction (`recorded` says whether).
   */
  record(
    verdict: VerdictRecord,
    condition?: VerdictCondition,
  ): Promise<{ previous: VerdictState; recorded: boolean }>;
  /** A bundle's verdict changes, newest first. */
  list(app: string, version: number): Promise<VerdictRecord[]>;
  /** A bundle's verdict now: its latest change, or `pending`. */
  current(app: string, version: number): Promise<VerdictState>;
  /** Every verdict change of an app's bundles, newest first. */
  listByApp(app: string): Promise<VerdictRecord[]>;
}

/**
 * When the server records a verdict it reached itself about something that
 * happened at `unchangedSince` (an install that failed): only if that changes
 * the bundle's verdict, and no verdict was recorded since — by the server for
 * the same happening reported again, or by a person who has seen it. Times
 * are compared as recorded: replicas' clocks are taken to agree to well under
 * the time a person takes to look at a failure.
 */
export interface VerdictCondition {
  unchangedSince: string;
}
