/** A running service's health on one host, as its agent last reported it. */
export type ServiceHealthState = 'healthy' | 'failing' | 'stopped';

/** A health report of one service on one host (continuous health). */
export interface ServiceHealthReport {
  hostId: string;
  app: string;
  version: number | null;
  state: ServiceHealthState;
  /** When the service entered `state`, by the agent's clock. */
  since: string;
  /** The failing probe's answer; null when healthy. */
  answer: string | null;
  /** Restarts by the host's process driver in the last hour. */
  restarts: number;
  /** When the server recorded it. */
  at: string;
  /**
   * When the agent made the report, by its clock: a report older than the one
   * kept (delivered late, after a reconnect) is refused. Absent: not compared.
   */
  agentAt?: string;
}

/** What the server keeps of a service's health: the last report, and when it was recorded. */
export interface ServiceHealth extends ServiceHealthReport {
  /** The host's name. */
  host: string;
  env: string;
}

/** What recording a report changed. */
export interface HealthChange {
  /** The state before; null for a service first reported. */
  previous: ServiceHealthState | null;
  /** The restart count kept before; null for a service first reported. */
  restartsBefore: number | null;
  /** The state, the version or the restart count differs from what was kept. */
  changed: boolean;
  /** True when the report was refused: the agent made the one kept later (nothing changed). */
  stale?: true;
}

/**
 * Each service's present health on each host, one row per host and app: the
 * agents report a change (and again after reconnecting); the status view, the
 * bake of a deployment and the alerts read it.
 *
 * @example
 *   const { previous, changed } = await store.health.record(report);
 *   const qa = await store.health.list({ env: 'qa', app: 'cart' });
 */
export interface HealthStore {
  /**
   * Keeps a report as the service's present health; says what it changed. A
   * report the agent made before the one kept is refused (`stale`) when the
   * kept one was recorded within the last minute (a late copy; a host whose
   * clock stepped back is not refused for ever).
   */
  record(report: ServiceHealthReport): Promise<HealthChange>;
  /** The present health of services, filtered by environment, app and host (all when absent). */
  list(query?: { env?: string; app?: string; hostId?: string }): Promise<ServiceHealth[]>;
  /**
   * Forgets a host's services (the host was removed), one app's on it, or that
   * app's row only while it is of `version` (a newer report kept meanwhile
   * stays); true when a row went.
   */
  forget(hostId: string, app?: string, version?: number | null): Promise<boolean>;
}
