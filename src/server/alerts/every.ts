/** The few logging calls a repeated task makes. */
interface Logger {
  error(details: object, message: string): void;
}

/**
 * Runs `work` now and then every `everyMs`, one run at a time (a run still
 * going when the next is due is not doubled); a failed run is logged with
 * `what`, never thrown. The timer does not hold the process; `stop()` waits
 * for a run under way.
 *
 * @example
 *   const sweep = new Every(30_000, () => this.sweep(), logger, 'looking for hosts away failed');
 *   sweep.start();
 *   await sweep.stop();
 */
export class Every {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly everyMs: number,
    private readonly work: () => Promise<unknown>,
    private readonly logger: Logger,
    private readonly what: string,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.everyMs);
    this.timer.unref();
    this.tick();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private tick(): void {
    if (this.running) return;
    this.running = this.work()
      .then(() => undefined)
      .catch((err: unknown) => this.logger.error({ err }, this.what))
      .finally(() => {
        this.running = undefined;
      });
  }
}
