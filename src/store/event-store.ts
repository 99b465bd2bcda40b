import type { EventFilter, FerryEvent, NewFerryEvent } from '../protocol/events.js';

/**
 * The live event stream's log: numbered events, read after an id by the
 * event bus (`server/events/`), pruned after `events.keepDays`.
 *
 * @example
 *   const event = await store.events.append({ kind: 'bundle.pushed', app: 'cart', env: null,
 *     deploymentId: null, hostId: null, data: { version: 12, sha256, label: null, by: 'alice' } });
 *   const next = await store.events.list({ after: Number(event.id), limit: 100 });
 */
export interface EventStore {
  /**
   * Appends an event to the live stream and numbers it. Ids only grow, and a
   * reader that has seen id n never later finds one below it, on every replica.
   */
  append(event: NewFerryEvent): Promise<FerryEvent>;
  /**
   * Events after an id (and up to `until`, when given), oldest first,
   * matching the filter. With `until`, a reader that finds fewer than `limit`
   * has seen every matching event up to it, and reads at most that span of ids
   * (not every event to the end, however few match).
   */
  list(query: {
    after: number;
    until?: number;
    limit: number;
    filter?: EventFilter;
  }): Promise<FerryEvent[]>;
  /** The newest event's id, or 0; `firstId` the oldest kept, or 0. */
  lastId(): Promise<number>;
  firstId(): Promise<number>;
  /** Deletes events recorded before a time (never the newest); returns how many. */
  prune(before: string): Promise<number>;
  /**
   * Calls `onAppended` when another process (a replica) appended events, with
   * the id appended when known (this process's own appends may be told too);
   * the returned function stops watching. An embedded store has no other process.
   */
  watch(onAppended: (id?: number) => void): Promise<() => Promise<void>>;
}
