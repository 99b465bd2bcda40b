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
 * due a turn: at most `TURN_BUDGET_MS` of work).
 *
 * A caller's own transaction is a savepoint in the group: its rollback undoes
 * its own writes only. A single statement that fails is undone by SQLite
 * alone. An error that ends the whole transaction (SQLite does so itself on a
 * full disk or an I/O error), or a COMMIT that fails, fails every caller of the
 * group: none of their writes is on disk.
 */
export class GroupCommit {
  private group: Group | undefined;

  constructor(private readonly database: SQLite.Database) {}

  /** True while a group is open: a caller's transaction is then a savepoint in it. */
  get open(): boolean {
    return this.group !== undefined;
  }

  /** Opens a group for the callers to come (the caller has the connection, with others waiting). */
  begin(): void {
    if (this.group || this.database.inTransaction) return;
    this.run('BEGIN');
    this.group = new Group();
  }

  /** A caller's transaction begins, inside the group. */
  savepoint(): void {
    this.run(`SAVEPOINT ${SAVEPOINT}`);
  }

  /** A caller's transaction commits: its writes join the group's. */
  releaseSavepoint(): void {
    this.run(`RELEASE ${SAVEPOINT}`);
  }

  /** A caller's transaction rolls back: its own writes are undone, the group's kept. */
  rollbackSavepoint(): void {
    if (!this.database.inTransaction) return;
    this.run(`ROLLBACK TO ${SAVEPOINT}`);
    this.run(`RELEASE ${SAVEPOINT}`);
  }

  /** Notes a failed statement: it fails the whole group if SQLite ended the transaction for it. */
  failed(err: unknown): void {
    if (this.group && !this.database.inTransaction) this.group.lost ??= err;
  }

  /**
   * Ends a caller's turn in the group: commits the group when `last` (the run
   * of hand-overs ends here). Resolves once the group the caller was in is
   * committed; rejects with the error that lost it. Undefined when no group is open.
   */
  leave(last: boolean): Promise<void> | undefined {
    const group = this.group;
    if (!group) return undefined;
    if (!this.database.inTransaction)
      group.lost ??= new Error('The transaction ended unexpectedly');
    if (group.lost !== undefined) {
      this.group = undefined;
      group.settle(group.lost);
      return group.committed;
    }
    if (!last) return group.committed;
    this.group = undefined;
    try {
      this.run('COMMIT');
      group.settle(undefined);
    } catch (err) {
      if (this.database.inTransaction) this.run('ROLLBACK');
      group.settle(err);
    }
    return group.committed;
  }

  private run(sql: string): void {
    this.database.prepare(sql).run();
  }
}

/** The savepoint of the one caller in a transaction (callers run one at a time). */
const SAVEPOINT = 'ferry_caller';

class Group {
  lost: unknown = undefined;
  readonly committed: Promise<void>;
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
}
