import { AsyncResource } from 'node:async_hooks';
import { isFinalInstall } from '../../protocol/lifecycle.js';
import type { StoredInstall } from '../../store/store.js';

/** The logging the scheduler does: a look that fails is reported, and the next one comes. */
interface Logger {
  error(details: object, message: string): void;
}

/** The longest pause after a long look (see `settleMs`): an end is seen within it. */
const MAX_SETTLE_MS = 2_000;

/** The pause after a look, in looks (see `settleMs`). */
const SETTLE_PER_LOOK = 4;

/** When to look: `tickMs` and `settleMs` as in `RolloutDriverOptions`. */
export interface LookSchedulerOptions {
  tickMs: number;
  settleMs?: number;
}

/**
 * When the rollout driver looks at its deployments: every tick, when woken
 * (one look at a time, the next after a pause that grows with the look — see
 * `RolloutDriverOptions.settleMs`), at once when the last install a rollout
 * waited on ends, and when the nearest bake ends.
 *
 * @example
 * this.looks = new LookScheduler(() => this.tick(), logger, { tickMs: 5_000 }, clock);
 * looks.start();
 * looks.wake(installId); // an install ended
 */
export class LookScheduler {
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private tickAgain = false;
  private stopped = false;
  /** The wake-up set for the end of the nearest bake, and when it fires. */
  private bakeTimer: { at: number; timer: NodeJS.Timeout } | undefined;
  /**
   * A tick, in the async context the driver was made in, never its waker's:
   * what a tick records is the rollout's doing, not an effect of the agent
   * message or the request that woke it (see `EventBus.withEffects`).
   */
  private readonly tickHere: () => Promise<void>;
  /**
   * Per deployment, the installs its last look waited on and that have not
   * ended since: when the last of them ends, the rollout can move on, and the
   * next look comes without the pause (a small rollout's end, or its next
   * batch, waited up to 2 s for it).
   */
  private readonly awaited = new Map<string, Set<string>>();
  /** A look is under way: ends seen now are kept in `endedInLook`, not taken off `awaited`. */
  private looking = false;
  /** The installs that ended during the look under way: it may have read them before they ended. */
  private readonly endedInLook = new Set<string>();
  /** The next look has something to do at once: no pause before it. */
  private due = false;
  /** Ends the pause under way, if any. */
  private cutPause: (() => void) | undefined;

  /** Made in the driver's constructor: each look runs in the async context of this call. */
  constructor(
    look: () => Promise<void>,
    private readonly logger: Logger,
    private readonly options: LookSchedulerOptions,
    private readonly clock: () => number,
  ) {
    this.tickHere = AsyncResource.bind(() => look());
  }

  /** True once `close` was called: a look under way stops at its next deployment (the stranded sweep at its next install). */
  get closed(): boolean {
    return this.stopped;
  }

  /**
   * Looks again when a bake ends (besides every tick), so that a bake ends on
   * time whatever the tick: one wake-up at a time, for the nearest end.
   */
  wakeAt(at: number): void {
    if (this.stopped) return;
    if (this.bakeTimer && this.bakeTimer.at <= at && this.bakeTimer.at > this.clock()) return;
    if (this.bakeTimer) clearTimeout(this.bakeTimer.timer);
    const timer = setTimeout(
      () => {
        this.bakeTimer = undefined;
        this.wake();
      },
      Math.max(0, at - this.clock()) + 10,
    );
    timer.unref();
    this.bakeTimer = { at, timer };
  }

  /** Starts ticking, and looks at once. */
  start(): void {
    this.timer = setInterval(() => this.wake(), this.options.tickMs);
    this.wake();
  }

  /**
   * Looks now — or, when a look is under way, once more after it and a
   * pause. `endedInstall`: the install whose end this is, if it is one; the
   * end of the last one a rollout waits on cuts the pause short.
   */
  wake(endedInstall?: string): void {
    if (this.stopped) return;
    if (endedInstall !== undefined) this.sawEnd(endedInstall);
    this.tickAgain = true;
    if (this.ticking) return;
    this.ticking = this.run().finally(() => {
      this.ticking = undefined;
    });
  }

  private sawEnd(installId: string): void {
    if (this.looking) {
      this.endedInLook.add(installId);
      return;
    }
    for (const [deploymentId, waiting] of this.awaited) {
      if (!waiting.delete(installId)) continue;
      if (waiting.size === 0) {
        this.awaited.delete(deploymentId);
        this.lookNow();
      }
      return;
    }
  }

  /** The next look comes without a pause (one under way is cut short). */
  lookNow(): void {
    this.due = true;
    this.cutPause?.();
  }

  /** What deployment `id`'s look waits on next: its installs in `waitingOn` that have not ended. */
  awaitEnds(id: string, waitingOn: StoredInstall[]): void {
    const waiting = new Set(
      waitingOn
        .filter((i) => !isFinalInstall(i.state) && !this.endedInLook.has(i.id))
        .map((i) => i.id),
    );
    if (waiting.size > 0) this.awaited.set(id, waiting);
    else this.lookNow();
  }

  /** Deployment `id` waits on nothing (yet): this look reads it afresh, or another replica drives it. */
  forget(id: string): void {
    this.awaited.delete(id);
  }

  /** Only the deployments `ids` wait on anything: the others ended (cancelled, or ended by another replica). */
  forgetAllBut(ids: Set<string>): void {
    for (const id of this.awaited.keys()) if (!ids.has(id)) this.awaited.delete(id);
  }

  private async run(): Promise<void> {
    while (this.tickAgain && !this.stopped) {
      this.tickAgain = false;
      this.due = false;
      this.looking = true;
      this.endedInLook.clear();
      const began = performance.now();
      await this.tickHere()
        .catch((err: unknown) => this.logger.error({ err }, 'the rollout driver failed a tick'))
        .finally(() => {
          this.looking = false;
        });
      // Ends seen while it looked, after it recorded what a deployment waits
      // on (an install it ended unsent, or one whose end came meanwhile):
      // taken off now. One it read as ended is not waited on, so no harm.
      for (const installId of this.endedInLook) this.sawEnd(installId);
      this.endedInLook.clear();
      const took = performance.now() - began;
      if (this.tickAgain && !this.stopped && !this.due)
        await this.pause(
          Math.max(this.options.settleMs ?? 100, Math.min(SETTLE_PER_LOOK * took, MAX_SETTLE_MS)),
        );
    }
  }

  /** Waits `ms`, or until `lookNow` (or `close`) cuts it short. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.cutPause = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.cutPause = done;
    });
  }

  /** Resolves once no tick is under way (nor asked for). */
  async idle(): Promise<void> {
    while (this.ticking) await this.ticking;
  }

  /** Stops looking: no tick, wake-up or pause is left, and the look under way has ended. */
  async close(): Promise<void> {
    this.stopped = true;
    this.cutPause?.();
    clearInterval(this.timer);
    if (this.bakeTimer) clearTimeout(this.bakeTimer.timer);
    await this.ticking;
  }
}
