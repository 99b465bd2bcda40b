import type { FastifyBaseLogger } from 'fastify';
import {
  type EventFilter,
  type FerryEvent,
  matchesFilter,
  type NewFerryEvent,
} from '../../protocol/events.js';
import type { Store } from '../../store/store.js';

/** How many events one read of the store takes. */
const PAGE = 500;

/** What a subscriber is handed: each event it asked for, once, in order. */
export interface EventSubscriber {
  /** False when the subscriber cannot keep up; it is then dropped (it may resume). */
  deliver(event: FerryEvent): boolean;
  /** Called once when the bus drops it (it fell behind, or the bus stopped). */
  dropped(reason: string): void;
}

/** A subscription; `close` ends it. */
export interface Subscription {
  close(): void;
}

/**
 * The server's one channel for changes: every service publishes what it
 * changed here, and every listener (the SSE stream, catch-up after a
 * deployment, later webhooks) hears it. An event is recorded in the store
 * first, so it has its id and survives restarts; the bus then tails the store
 * in id order, which is also how it hears the events other replicas record
 * (the store wakes it: PostgreSQL `LISTEN/NOTIFY`).
 *
 * @example
 *   const bus = new EventBus(store, logger);
 *   await bus.start();
 *   bus.on((event) => event.kind === 'deployment.state' && catchUp(event.env));
 *   await bus.publish({ kind: 'host.connected', app: null, env: 'qa', ... });
 */
export class EventBus {
  private lastId = 0;
  private draining: Promise<void> | undefined;
  private again = false;
  private readonly subscribers = new Set<Live>();
  private readonly listeners = new Set<(event: FerryEvent) => void>();
  private unwatch: (() => Promise<void>) | undefined;
  private pruning: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly logger: FastifyBaseLogger,
    private readonly keepDays = 7,
  ) {}

  /**
   * Starts after the newest recorded event, listens for other replicas' events,
   * and prunes what is older than `keepDays` now and every hour.
   */
  async start(): Promise<void> {
    this.lastId = await this.store.events.lastId();
    this.unwatch = await this.store.events.watch(() => this.wake());
    await this.prune();
    this.pruning = setInterval(() => void this.prune(), 60 * 60 * 1000);
    this.pruning.unref();
  }

  private async prune(): Promise<void> {
    const before = new Date(Date.now() - this.keepDays * 24 * 60 * 60 * 1000).toISOString();
    try {
      const pruned = await this.store.events.prune(before);
      if (pruned > 0) this.logger.info({ pruned, before }, 'old events pruned');
    } catch (err) {
      this.logger.error({ err }, 'pruning old events failed');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pruning);
    await this.unwatch?.();
    await this.draining;
    for (const live of this.subscribers) live.drop('the server is stopping');
    this.subscribers.clear();
  }

  /**
   * Records an event and hands it to every listener of this replica. Never
   * throws: a change that was made must not fail because its event could not
   * be recorded (that is logged).
   */
  async publish(event: NewFerryEvent): Promise<void> {
    try {
      await this.store.events.append(event);
    } catch (err) {
      this.logger.error({ err, kind: event.kind }, 'an event could not be recorded');
      return;
    }
    await this.wakeAndWait();
  }

  /** Calls `listener` with every event from now on, in order (synchronously; keep it short). */
  on(listener: (event: FerryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Streams the events matching `filter` to `subscriber`: first those after
   * `after` that the store still keeps (a resuming client), then each new one
   * as it is recorded, each exactly once and in order.
   */
  async subscribe(
    filter: EventFilter,
    after: number | undefined,
    subscriber: EventSubscriber,
  ): Promise<Subscription> {
    const live = new Live(filter, subscriber, () => this.subscribers.delete(live));
    // Listening first, then reading what was recorded: an event recorded in
    // between is both read and heard, and the cursor delivers it once.
    this.subscribers.add(live);
    // An id beyond the newest (a client of a store since reset) resumes from now.
    live.cursor =
      after === undefined ? this.lastId : Math.min(after, await this.store.events.lastId());
    if (after !== undefined) {
      try {
        for (;;) {
          const page = await this.store.events.list({ after: live.cursor, limit: PAGE, filter });
          for (const event of page) live.offer(event);
          if (page.length < PAGE || live.closed) break;
        }
      } catch (err) {
        live.drop(`the events could not be read: ${(err as Error).message}`);
      }
    }
    live.flush();
    return live;
  }

  /** The id of the oldest event kept, or 0 when none is (for a resuming client's gap). */
  oldestKept(): Promise<number> {
    return this.store.events.firstId();
  }

  private wake(): void {
    void this.wakeAndWait();
  }

  private wakeAndWait(): Promise<void> {
    if (this.draining) {
      this.again = true;
      return this.draining;
    }
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        this.wake();
      }
    });
    return this.draining;
  }

  private async drain(): Promise<void> {
    for (;;) {
      let page: FerryEvent[];
      try {
        page = await this.store.events.list({ after: this.lastId, limit: PAGE });
      } catch (err) {
        this.logger.error({ err }, 'reading new events failed');
        return;
      }
      for (const event of page) {
        this.lastId = Number(event.id);
        for (const listener of this.listeners) {
          try {
            listener(event);
          } catch (err) {
            this.logger.error({ err, kind: event.kind }, 'an event listener failed');
          }
        }
        for (const live of this.subscribers) live.hear(event);
      }
      if (page.length < PAGE) return;
    }
  }
}

/** One subscriber: holds what it hears while its past is still being read. */
class Live implements Subscription {
  cursor = 0;
  closed = false;
  private held: FerryEvent[] | undefined = [];

  constructor(
    private readonly filter: EventFilter,
    private readonly subscriber: EventSubscriber,
    private readonly remove: () => void,
  ) {}

  /** A new event from the bus. */
  hear(event: FerryEvent): void {
    if (this.closed) return;
    if (this.held) {
      this.held.push(event);
      return;
    }
    this.offer(event);
  }

  /** An event, heard or read: delivered when it is past the cursor and wanted. */
  offer(event: FerryEvent): void {
    const id = Number(event.id);
    if (this.closed || id <= this.cursor) return;
    this.cursor = id;
    if (!matchesFilter(event, this.filter)) return;
    if (!this.subscriber.deliver(event)) this.drop('the client is not keeping up');
  }

  /** The past is read: what was heard meanwhile goes out, and from now on each event at once. */
  flush(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const event of held) this.offer(event);
  }

  drop(reason: string): void {
    if (this.closed) return;
    this.close();
    this.subscriber.dropped(reason);
  }

  close(): void {
    this.closed = true;
    this.held = undefined;
    this.remove();
  }
}
