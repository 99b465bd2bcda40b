import { randomBytes } from 'node:crypto';
import type { HistoryEvent } from '../store/store.js';

/**
 * A history event stamped now, with a fresh id; what is not given is null.
 *
 * @example
 *   await store.history.record(historyEvent({ type: 'token', by: 'admin', detail: 'created token ci (role developer)' }));
 */
export function historyEvent(
  fields: Pick<HistoryEvent, 'type' | 'by' | 'detail'> &
    Partial<Pick<HistoryEvent, 'app' | 'version' | 'env' | 'deploymentId'>>,
): HistoryEvent {
  return {
    id: `hev_${randomBytes(8).toString('hex')}`,
    at: new Date().toISOString(),
    app: null,
    version: null,
    env: null,
    deploymentId: null,
    ...fields,
  };
}
