import { Worker } from 'node:worker_threads';
import type { BundleMeta } from '../bundle/bundle-meta.js';
import type { BundleLimits } from '../bundle/inspect-bundle.js';
import { type ErrorCode, FerryError } from '../protocol/errors.js';

/** Messages from the main thread to an inspector worker; `id` names the inspection. */
export type InspectorRequest =
  | { type: 'begin'; id: number; limits: BundleLimits; slots: SharedArrayBuffer[] }
  /** The first `length` bytes of slot `slot` of the inspection's ring are the next bytes of the upload. */
  | { type: 'chunk'; id: number; slot: number; length: number }
  | { type: 'end'; id: number }
  | { type: 'abort'; id: number };

/** Messages from an inspector worker to the main thread. */
export type InspectorReply =
  /** The worker is done with slot `slot`: hashed and inflated, it may be filled again. */
  | { type: 'ack'; id: number; slot: number }
  | { type: 'done'; id: number; meta: BundleMeta; sha256: string }
  | {
      type: 'failed';
      id: number;
      code: ErrorCode;
      message: string;
      details?: Record<string, unknown> | undefined;
    };

/** How many slots an inspection's ring has: the bytes in flight to a worker are bounded by it. */
export const RING_SLOTS = 6;

/** The size of one slot: the upload is written to its file and sent to the worker in pieces this large. */
export const SLOT_BYTES = 1024 * 1024;

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
 * One bundle being checked by one worker. The bytes travel in a ring of
 * `RING_SLOTS` shared buffers of `SLOT_BYTES`, made once per inspection and
 * filled again once the worker is done with them, rather than a fresh buffer
 * per MiB (whose allocation, page faults and collection cost more than the
 * check's bookkeeping). Fill a slot from `ring`, hand it over with `send`
 * (its `onDone` runs once the worker no longer reads it), then `end`;
 * `result` settles with the bundle's metadata and sha256, or the `FerryError`
 * that refused it.
 */
export class Inspection {
  readonly result: Promise<Inspected>;
  /** The shared slots; the worker reads slot `i` only between `send(i)` and its `onDone`. */
  readonly ring: Buffer[];
  private settled = false;
  private readonly held = new Map<number, () => void>();

  constructor(
    private readonly worker: PooledWorker,
    private readonly id: number,
    limits: BundleLimits,
  ) {
    const { thread } = worker;
    const slots = Array.from({ length: RING_SLOTS }, () => new SharedArrayBuffer(SLOT_BYTES));
    this.ring = slots.map((slot) => Buffer.from(slot));
    this.result = new Promise<Inspected>((resolve, reject) => {
      let finished = false;
      const finish = (outcome: () => void) => {
        if (finished) return;
        finished = true;
        thread.off('message', onMessage);
        thread.off('error', onCrash);
        thread.off('exit', onCrash);
        this.settled = true;
        // The worker reads no slot once it has answered (or died): each is free again.
        for (const slot of [...this.held.keys()]) this.done(slot);
        outcome();
      };
      const onMessage = (message: InspectorReply) => {
        if (message.id !== this.id) return;
        if (message.type === 'ack') this.done(message.slot);
        else if (message.type === 'done') {
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
    this.post({ type: 'begin', id, limits, slots });
  }

  /**
   * Hands the worker the first `length` bytes of slot `slot`, the next bytes of
   * the upload; `onDone` runs once the worker is done reading them (at once
   * when the check has already ended).
   */
  send(slot: number, length: number, onDone: () => void): void {
    if (this.settled) {
      onDone();
      return;
    }
    this.held.set(slot, onDone);
    this.post({ type: 'chunk', id: this.id, slot, length });
  }

  end(): void {
    if (!this.settled) this.post({ type: 'end', id: this.id });
  }

  /** Stops the check, for an upload that broke off; `result` then rejects. */
  abort(): void {
    if (!this.settled) this.post({ type: 'abort', id: this.id });
  }

  private done(slot: number): void {
    const onDone = this.held.get(slot);
    this.held.delete(slot);
    onDone?.();
  }

  private post(message: InspectorRequest): void {
    this.worker.thread.postMessage(message);
  }
}
