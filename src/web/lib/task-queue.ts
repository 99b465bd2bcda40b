/**
 * Runs tasks a few at a time, each key once: the deployment page fetches the
 * steps of the hosts that come into view, and a hundred hosts scrolled past
 * must not become a hundred requests at once, nor the same request twice.
 * A task's failure is reported and its key may be asked again.
 *
 * @example
 *   const queue = new TaskQueue(4, (key, err) => console.error(key, err));
 *   queue.add('inst_1', () => fetchSteps('inst_1'));
 */
export class TaskQueue {
  private readonly waiting: Array<{ key: string; task: () => Promise<void> }> = [];
  /** Keys queued, running or done: not run again until forgotten. */
  private readonly seen = new Set<string>();
  private running = 0;
  private stopped = false;

  constructor(
    private readonly concurrency: number,
    private readonly onError: (key: string, error: unknown) => void,
  ) {}

  /** Queues a task under a key; does nothing for a key already seen. */
  add(key: string, task: () => Promise<void>): void {
    if (this.stopped || this.seen.has(key)) return;
    this.seen.add(key);
    this.waiting.push({ key, task });
    this.next();
  }

  /** Lets a key be queued again (its result went stale). */
  forget(key: string): void {
    this.seen.delete(key);
  }

  /** Drops what waits; what runs finishes, and nothing starts after. */
  stop(): void {
    this.stopped = true;
    this.waiting.length = 0;
  }

  private next(): void {
    while (!this.stopped && this.running < this.concurrency && this.waiting.length > 0) {
      const { key, task } = this.waiting.shift()!;
      this.running++;
      task()
        .catch((error: unknown) => {
          this.seen.delete(key);
          this.onError(key, error);
        })
        .finally(() => {
          this.running--;
          this.next();
        });
    }
  }
}
