import { parseDuration } from '../../bundle/manifest-schema.js';
import type { Store } from '../../store/store.js';
import type { EnvironmentConfig } from '../environment-config.js';
import { clockText, spanText } from './alert-text.js';
import { Every } from './every.js';

/** The few logging calls the sweep makes. */
interface Logger {
  error(details: object, message: string): void;
}

/** The offline timeout of an environment no longer configured (the strategy's default). */
const DEFAULT_OFFLINE_MS = parseDuration('60s');

/**
 * `host-away`: every `everyMs`, each host that has been disconnected longer
 * than its environment's `strategy.offlineTimeout` gets an open alert, and
 * each that is connected again has its alert cleared; a host removed or cut
 * off has all its open alerts cleared (nobody waits for it). `hostConnected` clears at once, without waiting
 * for the next sweep. Every replica sweeps: raising and clearing are
 * idempotent per key, so the alert is one whichever replicas see it.
 *
 * @example
 *   const sweep = new HostAwaySweep(store, config.environments, 30_000, logger);
 *   sweep.start();
 *   events.onLocal('host.connected', (event) => sweep.hostConnected(event.hostId));
 *   sweep.stop();
 */
export class HostAwaySweep {
  private readonly every: Every;
  /** When this sweep was made: a host is not counted away from before. */
  private readonly startedAt: number;

  constructor(
    private readonly store: Store,
    private readonly environments: readonly EnvironmentConfig[],
    everyMs: number,
    logger: Logger,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.startedAt = clock().getTime();
    this.every = new Every(everyMs, () => this.sweep(), logger, 'looking for hosts away failed');
  }

  /** Sweeps now and every `everyMs`; the timer does not hold the process. */
  start(): void {
    this.every.start();
  }

  /** Stops sweeping, and waits for a sweep under way. */
  stop(): Promise<void> {
    return this.every.stop();
  }

  /** A host connected: its `host-away` alert, if open, is cleared. */
  async hostConnected(hostId: string | null): Promise<void> {
    if (hostId === null) return;
    await this.store.alerts.clear(
      awayKey(hostId),
      this.clock().toISOString(),
      'it connected again',
    );
  }

  /**
   * Raises an alert for each host away too long, and clears those of hosts
   * back. A host cut off or removed has all its open alerts cleared: nobody
   * waits for it, and it reports nothing that would clear them.
   */
  async sweep(): Promise<void> {
    const now = this.clock();
    const at = now.toISOString();
    // Presence only: each host's facts are neither read nor parsed.
    const hosts = await this.store.hosts.list({ facts: false });
    const open = await this.store.alerts.list({ open: true, limit: 100_000 });
    const openKeys = new Set(open.map((alert) => alert.key));
    const listed = new Map(hosts.map((host) => [host.id, host]));
    for (const alert of open) {
      if (alert.hostId === null) continue;
      const host = listed.get(alert.hostId);
      if (host === undefined) await this.store.alerts.clear(alert.key, at, 'the host was removed');
      else if (host.revokedAt !== null)
        await this.store.alerts.clear(alert.key, at, 'the host was cut off');
    }
    for (const host of hosts) {
      if (host.revokedAt !== null) continue;
      const key = awayKey(host.id);
      const settings = this.environments.find((env) => env.name === host.env);
      const timeoutMs =
        settings === undefined
          ? DEFAULT_OFFLINE_MS
          : parseDuration(settings.strategy.offlineTimeout);
      const lastSeen = host.lastSeenAt ?? host.enrolledAt;
      // Not before this server started: hosts away while no server ran get
      // their offline timeout to come back, not an alert at once.
      const awayMs = now.getTime() - Math.max(Date.parse(lastSeen), this.startedAt);
      if (!host.connected && awayMs > timeoutMs) {
        if (openKeys.has(key)) continue;
        await this.store.alerts.raise({
          kind: 'host-away',
          key,
          env: host.env,
          app: null,
          hostId: host.id,
          host: host.name,
          version: null,
          deploymentId: null,
          message: `${host.name} is away since ${clockText(lastSeen, now)} (${spanText(now.getTime() - Date.parse(lastSeen))}), longer than ${host.env}'s offline timeout of ${settings?.strategy.offlineTimeout ?? '60s'}`,
          startedAt: at,
        });
      } else if (host.connected && openKeys.has(key)) {
        await this.store.alerts.clear(key, at, 'it connected again');
      }
    }
  }
}

/** One open `host-away` alert per host. */
function awayKey(hostId: string): string {
  return `host-away:${hostId}`;
}
