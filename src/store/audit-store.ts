import type { AuditEntry } from '../protocol/audit-api.js';

/** An audit entry before the store numbers it; `count` is 1 unless it says otherwise. */
export type NewAuditEntry = Omit<AuditEntry, 'id' | 'count'> & { count?: number };

/** Which entries: since a time, of one token (by name or id), the newest `limit`. */
export interface AuditListQuery {
  since?: string;
  who?: string;
  limit: number;
}

/**
 * The audit log: one entry per request that changed something or tried to,
 * kept `audit.retentionDays`. Entries are only added and pruned, never changed.
 *
 * @example
 *   await store.audit.record({ at, who: null, from: '10.0.0.7', action: 'deploy',
 *     method: 'POST', path: '/deployments', target: { app: 'cart' }, status: 401,
 *     outcome: 'E_AUTH_INVALID' });
 *   const entries = await store.audit.list({ who: 'ci', limit: 200 });
 */
export interface AuditStore {
  /** Records an entry. */
  record(entry: NewAuditEntry): Promise<void>;
  /**
   * The newest `limit` entries that match, oldest first: by time, and by the
   * order recorded within one time.
   */
  list(query: AuditListQuery): Promise<AuditEntry[]>;
  /** Deletes the entries from before a time; answers how many. */
  prune(before: string): Promise<number>;
}
