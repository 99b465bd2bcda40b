import { Worker } from 'node:worker_threads';
import type { BundleMeta } from '../bundle/bundle-meta.js';
import type { BundleLimits } from '../bundle/inspect-bundle.js';
import { type ErrorCode, FerryError } from '../protocol/errors.js';

/** Messages from the main thread to an inspector worker; `id` names the inspection. */
export type InspectorRequest =
  | { type: 'begin'; id: number; limits: BundleLimits }
  | { type: 'chunk'; id: number; data: Uint8Array }
  | { type: 'end'; id: number }
  | { type: 'abort'; id: number };

/** Messages from an inspector worker to the main thread. */
export type InspectorReply =
  | { type: 'ack'; id: number; bytes: number }
  | { type: 'done'; id: number; meta: BundleMeta; sha256: string }
  | {
      type: 'failed';
      id: number;
      code: ErrorCode;
      message: string;
      details?: Record<string, unknown> | undefined;
    };

/** How many bytes may wait in a worker before `write` holds the producer back. */
const MAX_IN_FLIGHT = 4 * 1024 * 1024;

/** Chunks are sent to a worker in messages of at least this size. */
const BATCH_BYTES = 1024 * 1024;

/**
 * Worker threads that check pushed bundles (`inspectBundle`) and take their
 * sha256 while the main thread receives (TLS) and stores them. The workers start with the
 * server, so a push neither waits for a thread to boot nor grows memory by one;
 * pushes beyond the pool's size wait for a free worker.
 */
export class InspectorPool {
  private readonly idle: PooledWorker[] = [];
  private readonly queue: ((worker: PooledWorker) => void)[] = [];
  private nextId = 1;
  private closed = false;

  constructor(
    /** How many checkers (worker threads) there are. */
    readonly size: number,
  ) {
    for (let i = 0; i < size; i++) this.idle.push(this.spawn());
  }

  /**
   * Starts an inspection on a free worker, waiting for one if all are busy.
   * A waiter whose `signal` aborts (its client went away) leaves the queue; one
   * that waits longer than `waitMs` leaves it with `E_SERVER_BUSY`.
   */
  async begin(limits: BundleLimits, signal?: AbortSignal, waitMs?: number): Promise<Inspection> {
    if (this.closed) throw new Error('inspector pool is closed');
    const worker = this.idle.pop() ?? (await this.wait(signal, waitMs));
    const inspection = new Inspection(worker, this.nextId++, limits);
    void inspection.result.then(
      () => this.release(worker),
      () => this.release(worker),
    );
    return inspection;
  }

  /** How many checkers an inspection holds now (of `size`). */
  get busy(): number {
    return this.size - this.idle.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.idle.map((w) => w.thread.terminate()));
  }

  private wait(signal: AbortSignal | undefined, waitMs: number | undefined): Promise<PooledWorker> {
    return new Promise<PooledWorker>((resolve, reject) => {
      const leave = (error: FerryError) => {
        this.queue.splice(this.queue.indexOf(take), 1);
        signal?.removeEventListener('abort', gone);
        clearTimeout(timer);
        reject(error);
      };
      const gone = () =>
        leave(
          new FerryError(
            'E_UPLOAD_INCOMPLETE',
            'The client went away while its push waited its turn',
          ),
        );
      const timer =
        waitMs === undefined
          ? undefined
          : setTimeout(() => {
              const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
              leave(
                new FerryError(
                  'E_SERVER_BUSY',
                  `Every bundle checker stayed busy for ${waitMs / 1000} s; push again in ${retryAfterSeconds} s`,
                  { retryAfterSeconds },
                ),
              );
            }, waitMs);
      const take = (worker: PooledWorker) => {
        signal?.removeEventListener('abort', gone);
        clearTimeout(timer);
        resolve(worker);
      };
      if (signal?.aborted) {
        reject(new FerryError('E_UPLOAD_INCOMPLETE', 'The client went away before its push began'));
        return;
      }
      signal?.addEventListener('abort', gone, { once: true });
      this.queue.push(take);
    });
  }

  private release(worker: PooledWorker): void {
    const next = worker.crashed ? this.spawn() : worker;
    if (this.closed) {
      void next.thread.terminate();
      return;
    }
    const waiter = this.queue.shift();
    if (waiter) waiter(next);
    else this.idle.push(next);
  }

  private spawn(): PooledWorker {
    const thread = new Worker(new URL('./inspect-worker.js', import.meta.url));
    // Idle workers must not keep a stopping server alive.
    thread.unref();
    const worker: PooledWorker = { thread, crashed: false };
    const lost = () => {
      worker.crashed = true;
      // An idle worker that dies is replaced at once; a busy one when its
      // inspection ends (see `release`).
      const index = this.idle.indexOf(worker);
      if (index >= 0 && !this.closed) this.idle.splice(index, 1, this.spawn());
    };
    thread.on('error', lost);
    thread.on('exit', lost);
    return worker;
  }
}

interface PooledWorker {
  thread: Worker;
  crashed: boolean;
}

/** What a worker found in a bundle it accepted: its metadata and the sha256 of all its bytes. */
export interface Inspected {
  meta: BundleMeta;
  sha256: string;
}

/**
 * One bundle being checked by one worker. Feed it with `write` (which resolves
 * when there is room for more, so memory stays bounded) and `end`; `result`
 * settles with the bundle's metadata and sha256, or the `FerryError` that refused it.
 */
export class Inspection {
  readonly result: Promise<Inspected>;
  private inFlight = 0;
  private settled = false;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private waiting: (() => void) | undefined;

  constructor(
    private readonly worker: PooledWorker,
    private readonly id: number,
    limits: BundleLimits,
  ) {
    const { thread } = worker;
    this.result = new Promise<Inspected>((resolve, reject) => {
      let finished = false;
      const finish = (outcome: () => void) => {
        if (finished) return;
        finished = true;
        thread.off('message', onMessage);
        thread.off('error', onCrash);
        thread.off('exit', onCrash);
        this.settled = true;
        this.release();
        outcome();
      };
      const onMessage = (message: InspectorReply) => {
        if (message.id !== this.id) return;
        if (message.type === 'ack') {
          this.inFlight -= message.bytes;
          if (this.inFlight <= MAX_IN_FLIGHT) this.release();
        } else if (message.type === 'done') {
          finish(() => resolve({ meta: message.meta, sha256: message.sha256 }));
        } else {
          finish(() => reject(new FerryError(message.code, message.message, message.details)));
        }
      };
      const onCrash = (err?: unknown) => {
        worker.crashed = true;
        const reason = err instanceof Error ? err.message : 'the worker stopped';
        finish(() => reject(new FerryError('E_INTERNAL', `The bundle check crashed: ${reason}`)));
      };
      thread.on('message', onMessage);
      thread.on('error', onCrash);
      thread.on('exit', onCrash);
    });
    // The caller may stop listening once the upload has failed; an unobserved
    // rejection must not end the process.
    this.result.catch(() => undefined);
    this.post({ type: 'begin', id, limits });
  }

  /**
   * Hands the worker a copy of `chunk`, gathered with others into messages of at
   * least 1 MiB (a message per network read would cost more than the copy);
   * resolves once there is room for more.
   */
  async write(chunk: Buffer): Promise<void> {
    if (this.settled) return;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= BATCH_BYTES) this.flush();
    if (this.inFlight > MAX_IN_FLIGHT)
      await new Promise<void>((resolve) => (this.waiting = resolve));
  }

  end(): void {
    if (this.settled) return;
    this.flush();
    this.post({ type: 'end', id: this.id });
  }

  /** Stops the check, for an upload that broke off; `result` then rejects. */
  abort(): void {
    if (!this.settled) this.post({ type: 'abort', id: this.id });
  }

  private flush(): void {
    if (this.pendingBytes === 0) return;
    // One copy, whose memory then moves to the worker rather than being cloned again.
    // Not zero-filled first (`new Uint8Array` would be): every byte is written below.
    const data = Buffer.allocUnsafeSlow(this.pendingBytes);
    let offset = 0;
    for (const piece of this.pending) {
      data.set(piece, offset);
      offset += piece.length;
    }
    this.inFlight += this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    this.worker.thread.postMessage(
      { type: 'chunk', id: this.id, data } satisfies InspectorRequest,
      [data.buffer],
    );
  }

  private post(message: InspectorRequest): void {
    this.worker.thread.postMessage(message);
  }

  private release(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.();
  }
}
