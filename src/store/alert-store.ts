import type { ALERT_KINDS } from '../protocol/alert-api.js';

/**
 * What raised an alert. `service-failing`: a service's health check fails;
 * `service-restarting`: its process keeps dying; `disk-full`, `memory-full`:
 * a host is over a threshold; `host-away`: a host is away longer than its
 * environment's offline timeout; `deployment-degraded`: hosts turned unhealthy
 * during a deployment's bake.
 */
export type AlertKind = (typeof ALERT_KINDS)[number];

/** A new alert. `key` names what it is about, so one condition holds one open alert. */
export interface NewAlert {
  kind: AlertKind;
  /** One open alert per key, e.g. `service-failing:<hostId>:cart`, `disk-full:<hostId>:/var`. */
  key: string;
  env: string | null;
  app: string | null;
  hostId: string | null;
  /** The host's name, kept as it was (a host may be removed later). */
  host: string | null;
  version: number | null;
  deploymentId: string | null;
  /** What it says, in words: "cart@12 on prod-3 fails its health check: HTTP 500". */
  message: string;
  startedAt: string;
}

export interface StoredAlert extends NewAlert {
  id: number;
  /** When the condition ended; null while the alert is open. */
  clearedAt: string | null;
  /** What ended it, in words; null while open. */
  clearedBecause: string | null;
}

/**
 * Alerts: raised when a condition starts, cleared when it ends, kept with both
 * times. Raising is idempotent on the key: while an alert with that key is
 * open, raising again returns it (`raised: false`), so replicas and repeated
 * reports raise it once.
 *
 * @example
 *   const { alert, raised } = await store.alerts.raise(newAlert);
 *   const cleared = await store.alerts.clear(newAlert.key, now, 'its health check passes again');
 *   const open = await store.alerts.list({ open: true });
 */
export interface AlertStore {
  raise(alert: NewAlert): Promise<{ alert: StoredAlert; raised: boolean }>;
  /** Clears the open alert of a key; undefined when none is open. */
  clear(key: string, at: string, because: string): Promise<StoredAlert | undefined>;
  get(id: number): Promise<StoredAlert | undefined>;
  /** How many alerts are open, by kind (kinds with none are absent). */
  countOpen(): Promise<Partial<Record<AlertKind, number>>>;
  /** Deletes the alerts cleared before `before`; says how many. Open alerts stay, however old. */
  pruneCleared(before: string): Promise<number>;
  /** Newest first. */
  list(query?: {
    open?: boolean;
    kind?: AlertKind;
    env?: string;
    app?: string;
    hostId?: string;
    deploymentId?: string;
    limit?: number;
  }): Promise<StoredAlert[]>;
}
