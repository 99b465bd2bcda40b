import type { Store } from '../../store/store.js';
import { Every } from './every.js';

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
  private readonly every: Every;

  constructor(
    private readonly store: Store,
    private readonly keepDays: number,
    logger: Logger,
    private readonly clock: () => Date = () => new Date(),
    everyMs = HOUR_MS,
  ) {
    this.every = new Every(everyMs, () => this.prune(), logger, 'pruning cleared alerts failed');
  }

  /** Prunes now and every hour; the timer does not hold the process. */
  start(): void {
    this.every.start();
  }

  /** Stops pruning, and waits for a pruning under way. */
  stop(): Promise<void> {
    return this.every.stop();
  }

  /** Deletes the alerts cleared before the retention; says how many. */
  async prune(): Promise<number> {
    const before = new Date(this.clock().getTime() - this.keepDays * DAY_MS).toISOString();
    return this.store.alerts.pruneCleared(before);
  }
}
