import { parseDuration } from '../../bundle/manifest-schema.js';
import type { Store } from '../../store/store.js';
import type { EnvironmentConfig } from '../environment-config.js';
import { clockText, spanText } from './alert-text.js';

/** The few logging calls the sweep makes. */
interface Logger {
  error(details: object, message: string): void;
}

/** The offline timeout of an environment no longer configured (the strategy's default). */
const DEFAULT_OFFLINE_MS = parseDuration('60s');

/**
 * `host-away`: every `everyMs`, each host that has been disconnected longer
 * than its environment's `strategy.offlineTimeout` gets an open alert, and
 * each that is connected again (or was removed or cut off: nobody waits for
 * it) has its alert cleared. `hostConnected` clears at once, without waiting
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
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly environments: readonly EnvironmentConfig[],
    private readonly everyMs: number,
    private readonly logger: Logger,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Sweeps now and every `everyMs`; the timer does not hold the process. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.everyMs);
    this.timer.unref();
    this.tick();
  }

  /** Stops sweeping, and waits for a sweep under way. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One sweep unless one is under way; its errors are logged, never thrown. */
  private tick(): void {
    if (this.running) return;
    this.running = this.sweep()
      .catch((err: unknown) => this.logger.error({ err }, 'looking for hosts away failed'))
      .finally(() => {
        this.running = undefined;
      });
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

  /** Raises an alert for each host away too long, and clears those of hosts back (or gone). */
  async sweep(): Promise<void> {
    const now = this.clock();
    const at = now.toISOString();
    const hosts = await this.store.hosts.list();
    const open = new Map(
      (await this.store.alerts.list({ open: true, limit: 100_000 }))
        .filter((alert) => alert.kind === 'host-away')
        .map((alert) => [alert.key, alert]),
    );
    const seen = new Set<string>();
    for (const host of hosts) {
      const key = awayKey(host.id);
      seen.add(key);
      if (host.revokedAt !== null) {
        if (open.has(key)) await this.store.alerts.clear(key, at, 'the host was cut off');
        continue;
      }
      const settings = this.environments.find((env) => env.name === host.env);
      const timeoutMs =
        settings === undefined
          ? DEFAULT_OFFLINE_MS
          : parseDuration(settings.strategy.offlineTimeout);
      const lastSeen = host.lastSeenAt ?? host.enrolledAt;
      const awayMs = now.getTime() - Date.parse(lastSeen);
      if (!host.connected && awayMs > timeoutMs) {
        if (open.has(key)) continue;
        await this.store.alerts.raise({
          kind: 'host-away',
          key,
          env: host.env,
          app: null,
          hostId: host.id,
          host: host.name,
          version: null,
          deploymentId: null,
          message: `${host.name} is away since ${clockText(lastSeen, now)} (${spanText(awayMs)}), longer than ${host.env}'s offline timeout of ${settings?.strategy.offlineTimeout ?? '60s'}`,
          startedAt: at,
        });
      } else if (host.connected && open.has(key)) {
        await this.store.alerts.clear(key, at, 'it connected again');
      }
    }
    // A removed host is no longer listed: nobody waits for it to come back.
    for (const key of open.keys()) {
      if (!seen.has(key)) await this.store.alerts.clear(key, at, 'the host was removed');
    }
  }
}

/** One open `host-away` alert per host. */
function awayKey(hostId: string): string {
  return `host-away:${hostId}`;
}
