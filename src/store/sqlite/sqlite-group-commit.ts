import type SQLite from 'better-sqlite3';

/**
 * One SQLite transaction for the queries of many callers that ran one after
 * another on the one connection, committed once, each caller answered only
 * after that COMMIT (so what a caller was told is written is on disk, as
 * when each query committed alone).
 *
 * With a thousand hosts reporting their steps, each step report was its own
 * transaction and each event's append its own commit: about 22 commits a host,
 * each a write of the WAL. A group is opened only when others already wait
 * for the connection (a caller alone runs as before, its own transaction), and
 * committed when the run of hand-overs ends (nobody waits, or the event loop is
 * due a turn: at most `TURN_BUDGET_MS` of work), or once it has been open
 * `GROUP_SPAN_MS` (callers arriving while one awaits I/O would keep it open).
 *
 * A caller's own transaction is a savepoint in the group: its rollback undoes
 * its own writes only. A single statement that fails is undone by SQLite
 * alone. An error that ends the whole transaction (SQLite does so itself on a
 * full disk or an I/O error), or a COMMIT that fails, fails every caller of the
 * group: none of their writes is on disk.
 *
 * What callers may count on, and what not. The statements run in the order
 * the callers came for the connection. A caller's turn sees the writes of the
 * group's callers before it, not yet committed; it is answered only once they
 * are (a lost group fails all its callers, those who read too), so no caller
 * is ever answered with a write that is not on disk. The callers of one group
 * are answered together, after its COMMIT, in no set order among themselves:
 * each promise is settled in statement order, but Kysely's own awaits between
 * the connection's release and the caller differ (a transaction's, a query's
 * `execute`, `executeTakeFirst`), and the caller's own code adds its awaits.
 * So a write may be seen — by a caller of the same group answered first, or by
 * another connection — before its own caller is answered. That is so of any
 * commit (the COMMIT comes first, the answer after it; on PostgreSQL another
 * connection reads the row meanwhile), so nothing may assume its writes unseen
 * until it is answered, nor callers answered in the order they wrote. The
 * event bus does not: an append it is told of out of order (`heard`) makes it
 * read the store, which hands the events out in their order. Answering in
 * statement order would need each answer held until the caller before had
 * taken its own, which the store cannot see: only a turn of the event loop
 * between answers would do, a thousand turns for a thousand callers.
 */
export class GroupCommit {
  private group: Group | undefined;
  /** When the open group began (`performance.now()`). */
  private begunAt = 0;
  /**
   * Set when a failed COMMIT could not be rolled back either: the connection
   * is inside a transaction nobody can end, and a write now would be told
   * written and never be. Every caller is refused with it from then on.
   */
  private broken: unknown = undefined;

  constructor(private readonly database: SQLite.Database) {}

  /** True while a group is open: a caller's transaction is then a savepoint in it. */
  get open(): boolean {
    return this.group !== undefined;
  }

  /** How long the open group has been open, in ms (0 when none is). */
  get age(): number {
    return this.group === undefined ? 0 : performance.now() - this.begunAt;
  }

  /**
   * Throws what broke the connection, if it is broken (see `broken`) — after
   * one more try at ending the transaction it was left in (an I/O error may
   * have passed): the connection is usable again once that works.
   */
  assertUsable(): void {
    if (this.broken === undefined) return;
    try {
      if (this.database.inTransaction) this.run('ROLLBACK');
    } catch {
      // Still stuck: refused below.
    }
    if (!this.database.inTransaction) this.broken = undefined;
    if (this.broken !== undefined)
      throw this.broken instanceof Error
        ? ownError(this.broken)
        : new Error('The database connection was left inside a transaction it could not end');
  }

  /** Opens a group for the callers to come (the caller has the connection, with others waiting). */
  begin(): void {
    if (this.group || this.database.inTransaction) return;
    this.run('BEGIN');
    this.group = new Group();
    this.begunAt = performance.now();
  }

  /** A caller's transaction begins, inside the group. */
  savepoint(): void {
    this.inGroup(() => this.run(`SAVEPOINT ${SAVEPOINT}`));
  }

  /** A caller's transaction commits: its writes join the group's. */
  releaseSavepoint(): void {
    this.inGroup(() => this.run(`RELEASE ${SAVEPOINT}`));
  }

  /**
   * A caller's transaction rolls back: its own writes are undone, the
   * group's kept. When that fails, its writes would be committed with the
   * others' although it was told it failed: the group is lost instead.
   */
  rollbackSavepoint(): void {
    if (!this.database.inTransaction) return;
    this.inGroup(() => {
      this.run(`ROLLBACK TO ${SAVEPOINT}`);
      this.run(`RELEASE ${SAVEPOINT}`);
    });
  }

  /** Gives up the open group (the store closes under its holder): its callers are told `err`. */
  abandon(err: unknown): void {
    const group = this.group;
    if (!group) return;
    this.group = undefined;
    group.lost ??= err;
    group.settle(group.lost);
  }

  /** Runs a statement of a caller's savepoint; one that fails loses the group. */
  private inGroup(statements: () => void): void {
    try {
      statements();
    } catch (err) {
      if (this.group) this.group.lost ??= err;
      throw err;
    }
  }

  /** Notes a failed statement: it fails the whole group if SQLite ended the transaction for it. */
  failed(err: unknown): void {
    if (this.group && !this.database.inTransaction) this.group.lost ??= err;
  }

  /**
   * Ends a caller's turn in the group: commits the group when `last` (the run
   * of hand-overs ends here). Resolves once the group the caller was in is
   * committed; rejects with the error that lost it (the caller's own: see
   * `ownError`). Undefined when no group is open.
   */
  leave(last: boolean): Promise<void> | undefined {
    const group = this.group;
    if (!group) return undefined;
    if (!this.database.inTransaction)
      group.lost ??= new Error('The transaction ended unexpectedly');
    if (group.lost !== undefined) {
      this.group = undefined;
      // Lost by a statement of ours that failed (a savepoint's rollback) and
      // not by SQLite: the transaction is still open, with writes none of its
      // callers will be told of. Ended, or the next callers would write in it.
      this.rollBack(group.lost);
      group.settle(group.lost);
      return group.answer();
    }
    if (!last) return group.answer();
    this.group = undefined;
    try {
      this.run('COMMIT');
      group.settle(undefined);
    } catch (err) {
      // Told the COMMIT's error whatever the ROLLBACK does; and the
      // connection is handed on either way (the caller passes it after this).
      this.rollBack(err);
      group.settle(err);
    }
    return group.answer();
  }

  /** Ends the transaction the connection is in, if any; one that cannot be ended breaks it (`broken`). */
  private rollBack(cause: unknown): void {
    try {
      if (this.database.inTransaction) this.run('ROLLBACK');
    } catch {
      // Left inside a transaction nobody can end: see `broken`.
    }
    if (this.database.inTransaction) this.broken = cause;
  }

  private run(sql: string): void {
    this.database.prepare(sql).run();
  }
}

/** The savepoint of the one caller in a transaction (callers run one at a time). */
const SAVEPOINT = 'ferry_caller';

class Group {
  lost: unknown = undefined;
  private readonly committed: Promise<void>;
  private resolve!: () => void;
  private reject!: (err: unknown) => void;

  constructor() {
    this.committed = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // Every caller awaits it; this keeps a group nobody awaited from being an unhandled rejection.
    this.committed.catch(() => undefined);
  }

  settle(err: unknown): void {
    if (err === undefined) this.resolve();
    else this.reject(err);
  }

  /** Resolves once the group is committed; rejects with an error of the caller's own if it is lost. */
  async answer(): Promise<void> {
    try {
      await this.committed;
    } catch (err) {
      // Made here, in the caller's own chain of awaits: its stack leads to that caller.
      throw ownError(err);
    }
  }
}

/**
 * An error of one caller's own for an error that fails many (a lost group's,
 * a broken connection's): the same class, message and own fields (`code`,
 * `details`: what callers check, as `isStorageFull` and `instanceof
 * FerryError` do), the shared one as its `cause`, and a stack of its own. The
 * one error thrown at every caller had a caller's handler annotating it seen
 * by all the others, and every stack leading to whichever caller made it.
 */
function ownError(shared: unknown): unknown {
  if (!(shared instanceof Error)) return shared;
  const own = Reflect.construct(
    Error,
    [shared.message, { cause: shared }],
    shared.constructor,
  ) as Error;
  Error.captureStackTrace(own, ownError);
  return Object.assign(own, shared);
}
