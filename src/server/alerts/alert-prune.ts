import type { Store } from '../../store/store.js';

/** The few logging calls the pruning makes. */
interface Logger {
  error(details: object, message: string): void;
}

const DAY_MS = 24 * 3600 * 1000;
const HOUR_MS = 3600 * 1000;

/**
 * Deletes the alerts cleared more than `keepDays` ago (server config
 * `alerts.keepDays`): at start, then every hour. Open alerts stay however old.
 * Every replica prunes; deleting what another deleted is harmless.
 *
 * @example
 *   const prune = new AlertPrune(store, 90, logger);
 *   prune.start();
 *   await prune.stop();
 */
export class AlertPrune {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly keepDays: number,
    private readonly logger: Logger,
    private readonly clock: () => Date = () => new Date(),
    private readonly everyMs = HOUR_MS,
  ) {}

  /** Prunes now and every hour; the timer does not hold the process. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.everyMs);
    this.timer.unref();
    this.tick();
  }

  /** Stops pruning, and waits for a pruning under way. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Deletes the alerts cleared before the retention; says how many. */
  async prune(): Promise<number> {
    const before = new Date(this.clock().getTime() - this.keepDays * DAY_MS).toISOString();
    return this.store.alerts.pruneCleared(before);
  }

  private tick(): void {
    if (this.running) return;
    this.running = this.prune()
      .then(() => undefined)
      .catch((err: unknown) => this.logger.error({ err }, 'pruning cleared alerts failed'))
      .finally(() => {
        this.running = undefined;
      });
  }
}
