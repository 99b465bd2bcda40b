import { AsyncLocalStorage } from 'node:async_hooks';
import type { FastifyBaseLogger } from 'fastify';
import {
  type EventFilter,
  type EventKind,
  type FerryEvent,
  matchesFilter,
  type NewFerryEvent,
} from '../../protocol/events.js';
import type { HostFacts } from '../../protocol/host-facts.js';
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

/**
 * What happens on this replica that its own effects act on but that is not a
 * change worth recording or streaming: a host's periodic facts report (every
 * 30 s, mostly unchanged), a host cut off (its presence may not change: it
 * may have been away already), a host's own token revoked (the host is to be
 * cut off), an agent's report of an install's end that was recorded
 * already (a message delivered again: the replica that recorded the end may
 * have died before its effects ran, so they run again), and any token
 * revoked or dashboard session ended (the event streams opened with it end
 * at once; other replicas' streams find out at their next heartbeat). A
 * service's health report is noticed every time it is kept, changed or not
 * (`service.reported`): a report delivered again — its effects failed, or the
 * replica died before they ran — finds the row already as it says, publishes
 * no `host.health`, and its alert is raised from the notice all the same.
 */
export type LocalNotice =
  | { kind: 'host.reported'; hostId: string; facts: HostFacts }
  | {
      kind: 'service.reported';
      hostId: string;
      app: string;
      env: string | null;
      data: Extract<NewFerryEvent, { kind: 'host.health' }>['data'];
      /** The restart count kept before this report; null for a service first reported. */
      restartsBefore: number | null;
    }
  | { kind: 'host.cut-off'; hostId: string }
  | { kind: 'host.revoked'; hostId: string }
  | { kind: 'install.finished-again'; installId: string }
  | { kind: 'token.revoked'; tokenId: string }
  | { kind: 'session.ended'; idHash: string };

/** What a local effect of `kind` is handed: the event as this replica published it, or the notice. */
export type LocalHappening<K extends EventKind | LocalNotice['kind']> = K extends EventKind
  ? Extract<NewFerryEvent, { kind: K }>
  : Extract<LocalNotice, { kind: K }>;

type LocalEffect = (happening: NewFerryEvent | LocalNotice) => Promise<void> | void;

/** The local effects started within one `withEffects`, which it waits for. */
interface EffectScope {
  readonly running: Set<Promise<void>>;
  readonly failures: unknown[];
  /** Once `withEffects` has returned: effects started later are no longer its own. */
  closed: boolean;
}

/** A subscription; `close` ends it. */
export interface Subscription {
  close(): void;
}

/**
 * The server's one channel for changes: every service publishes what it
 * changed here, and whatever acts on a change hears it here. An event is
 * recorded in the store first, so it has its id and survives restarts; the
 * bus then tails the store in id order, which is also how it hears the events
 * other replicas record (the store wakes it: PostgreSQL `LISTEN/NOTIFY`).
 *
 * Three ways to hear, by where an effect may run when there are several replicas:
 *
 * - `subscribe(filter, after, subscriber)`: the stream (SSE), every event of
 *   every replica, each once, in order, with resume.
 * - `on(kinds, listener)`: every replica hears every event, its own and the
 *   others'. For effects that are harmless to repeat and must reach whichever
 *   replica needs them (wake the rollout driver: the replica that holds the
 *   deployment's lease may not be the one whose agent reported).
 * - `onLocal(kind, effect)`: only the replica that published the event runs
 *   the effect, so that of two replicas exactly one does (catch-up, marking
 *   a verdict: check-then-act work that must not run twice at once). It runs
 *   after the change is recorded, without holding up the writer; its errors
 *   are logged, never thrown. A change whose event could not be recorded
 *   still has its effects. Local notices (`notify`) reach these effects too.
 * - `withEffects(work)`: for a writer that must know its effects ran — an
 *   agent's message is acknowledged only then, so that a replica that dies
 *   before they ran gets the message again: waits for the local effects that
 *   `work`'s writes started (and theirs), and throws when one failed.
 *
 * @example
 *   const bus = new EventBus(store, logger);
 *   await bus.start();
 *   bus.on(['host.connected', 'host.disconnected'], () => driver.wake());
 *   bus.onLocal('deployment.state', (event) => catchUp.environment(event.env));
 *   await bus.publish({ kind: 'host.connected', app: null, env: 'qa', ... });
 */
export class EventBus {
  private lastId = 0;
  private draining: Promise<void> | undefined;
  /** One more read, after the one under way: it may have read before what woke the bus was recorded. */
  private again: Promise<void> | undefined;
  private readonly subscribers = new Set<Live>();
  private readonly listeners = new Set<{
    kinds: readonly EventKind[];
    listener: (event: FerryEvent) => void;
  }>();
  private readonly effects = new Map<string, Set<LocalEffect>>();
  /** Local effects under way, awaited by `idle()`. */
  private readonly running = new Set<Promise<void>>();
  /** The `withEffects` call whose work is running, in its async context. */
  private readonly scope = new AsyncLocalStorage<EffectScope>();
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
    // An append this bus heard already (its own, handed out as it was made) needs no read.
    this.unwatch = await this.store.events.watch((id) => {
      if (id === undefined || id > this.lastId) this.wake();
    });
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

  /**
   * Stops hearing other replicas and ends the streams. Local effects still run
   * for what this replica records while it shuts down (a deployment its driver
   * ends on the way out); `idle()` waits for them.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pruning);
    await this.unwatch?.();
    await this.draining;
    for (const live of this.subscribers) live.drop('the server is stopping');
    this.subscribers.clear();
    await this.idle();
  }

  /**
   * Records an event, hands it to the listeners and subscribers of this
   * replica, and starts its local effects. Never throws: a change that was
   * made must not fail because its event could not be recorded (that is
   * logged, and its local effects run all the same).
   */
  async publish(event: NewFerryEvent): Promise<void> {
    let recorded: FerryEvent | undefined;
    try {
      recorded = await this.store.events.append(event);
    } catch (err) {
      this.logger.error({ err, kind: event.kind }, 'an event could not be recorded');
    }
    if (recorded) await this.heard(recorded);
    this.runEffects(event);
  }

  /** Starts the local effects of something that happened on this replica and is not recorded. */
  notify(notice: LocalNotice): void {
    this.runEffects(notice);
  }

  /**
   * Calls `listener` with every event of `kinds` from now on, on every replica
   * (this one's and the others'), in order. Synchronous: keep it short; its
   * errors are logged.
   */
  on(kinds: readonly EventKind[], listener: (event: FerryEvent) => void): () => void {
    const entry = { kinds, listener };
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
  }

  /**
   * Runs `effect` for each event of `kind` this replica publishes (or each
   * local notice of that kind), never for another replica's: of several
   * replicas, exactly the one that made the change acts on it. The effect
   * starts once the event is recorded and heard here, and does not hold up
   * the write that published it; several may run at once. A failure is
   * logged with the event's kind and never reaches the writer — unless the
   * write ran within `withEffects`, which waits for it and throws it.
   */
  onLocal<K extends EventKind | LocalNotice['kind']>(
    kind: K,
    effect: (happening: LocalHappening<K>) => Promise<void> | void,
  ): () => void {
    const set = this.effects.get(kind) ?? new Set<LocalEffect>();
    this.effects.set(kind, set);
    const entry = effect as LocalEffect;
    set.add(entry);
    return () => set.delete(entry);
  }

  /** Resolves once every local effect started so far has ended (and those they started). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  /**
   * Runs `work`, then waits for the local effects its writes and notices
   * started here, and for those these started in turn; rejects with the first
   * that failed (each is logged), or with `work`'s own error once its effects
   * have ended. What `work` wakes that runs on its own (the rollout driver's
   * tick, `on` listeners) is not waited for.
   *
   * @example
   *   // Acknowledged only once the verdict is marked: a crash before means a redelivery.
   *   transport.onEvent((hostId, event) => bus.withEffects(() => handle(hostId, event)));
   */
  async withEffects<T>(work: () => Promise<T>): Promise<T> {
    const scope: EffectScope = { running: new Set(), failures: [], closed: false };
    try {
      let result: T;
      try {
        result = await this.scope.run(scope, work);
      } finally {
        while (scope.running.size > 0) await Promise.allSettled([...scope.running]);
      }
      if (scope.failures.length > 0) throw scope.failures[0];
      return result;
    } finally {
      scope.closed = true;
    }
  }

  private runEffects(happening: NewFerryEvent | LocalNotice): void {
    const current = this.scope.getStore();
    const scope = current?.closed === false ? current : undefined;
    for (const effect of this.effects.get(happening.kind) ?? []) {
      // Started in this async context: the effects it starts belong to the same scope.
      const run: Promise<void> = Promise.resolve()
        .then(() => effect(happening))
        .catch((err: unknown) => {
          this.logger.error({ err, kind: happening.kind }, 'a local effect of an event failed');
          scope?.failures.push(err);
        })
        .finally(() => {
          this.running.delete(run);
          scope?.running.delete(run);
        });
      this.running.add(run);
      scope?.running.add(run);
    }
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

  /**
   * An event this replica just appended, heard without reading it back when
   * it is the next one this bus has not heard (no other replica's, no other
   * append of this one's, came in between): it is then handed out at once, as
   * a read would (a read under way skips it). Otherwise the bus reads the
   * store after the last one it heard, which gives this event in its place.
   */
  private heard(event: FerryEvent): Promise<void> {
    const id = Number(event.id);
    if (id <= this.lastId) return Promise.resolve();
    if (id !== this.lastId + 1) return this.wakeAndWait();
    // Outside any `withEffects`, as a read is: what listeners start is not the writer's effect.
    this.scope.exit(() => this.hand(event));
    return Promise.resolve();
  }

  /** Hands an event, the next in order, to the listeners and subscribers. */
  private hand(event: FerryEvent): void {
    this.lastId = Number(event.id);
    for (const { kinds, listener } of this.listeners) {
      if (!kinds.includes(event.kind)) continue;
      try {
        listener(event);
      } catch (err) {
        this.logger.error({ err, kind: event.kind }, 'an event listener failed');
      }
    }
    for (const live of this.subscribers) live.hear(event);
  }

  /**
   * Reads the store past the last event heard; resolves once what was
   * recorded before the call is handed out. A read under way may have begun
   * before that (another replica's notice woke it, this replica's append
   * came after): the caller then waits for one more read after it, which
   * every caller meanwhile shares.
   */
  private wakeAndWait(): Promise<void> {
    if (this.draining) {
      // After the read under way, failed or not (a subscriber may throw).
      this.again ??= this.draining
        .catch(() => undefined)
        .then(() => {
          this.again = undefined;
          return this.stopped ? undefined : this.wakeAndWait();
        });
      return this.again;
    }
    // Outside any `withEffects`: what listeners start is not the writer's effect.
    this.draining = this.scope
      .exit(() => this.drain())
      .finally(() => {
        this.draining = undefined;
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
      // Each once: one handed out at once while this page was read is not again.
      for (const event of page) if (Number(event.id) > this.lastId) this.hand(event);
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
