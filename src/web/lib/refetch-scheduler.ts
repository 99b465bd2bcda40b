/** The timer functions a scheduler uses; a test passes fake ones. */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * Runs a fetch when asked, but at most once per `delayMs` however often it is
 * asked, and never two at once: a thousand hosts' events in one second make
 * one or two fetches, not a thousand. A request made while a fetch runs makes
 * one more after it, so the last change is always fetched.
 *
 * @example
 *   const refetch = new RefetchScheduler(() => load(), 500);
 *   events.forEach(() => refetch.request());
 */
export class RefetchScheduler {
  private timer: unknown;
  private running = false;
  private again = false;
  private disposed = false;

  constructor(
    private readonly run: () => Promise<void>,
    private readonly delayMs: number,
    private readonly timers: Timers = realTimers,
  ) {}

  /** Asks for a fetch within `delayMs`. */
  request(): void {
    if (this.disposed || this.timer !== undefined) return;
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.fire();
    }, this.delayMs);
  }

  /** Fetches now (or right after the fetch that runs). */
  now(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.fire();
  }

  /** Stops: no fetch starts from now on. */
  dispose(): void {
    this.disposed = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private fire(): void {
    if (this.disposed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.run()
      .catch(() => undefined) // the run reports its own errors
      .finally(() => {
        this.running = false;
        if (this.again) {
          this.again = false;
          this.request();
        }
      });
  }
}
