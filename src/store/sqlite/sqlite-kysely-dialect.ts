import type SQLite from 'better-sqlite3';
import { performance } from 'node:perf_hooks';
import {
  type CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
  SqliteDialect,
  SqliteDriver,
} from 'kysely';
import { FerryError } from '../../protocol/errors.js';
import { GroupCommit } from './sqlite-group-commit.js';

/** How many prepared statements a database keeps (the store runs far fewer distinct queries). */
export const STATEMENT_CACHE_SIZE = 500;

/**
 * Kysely's SQLite dialect, with a rollback that lets the first error through.
 * On some errors (SQLITE_FULL on a full disk, SQLITE_IOERR) SQLite rolls the
 * transaction back by itself; Kysely's own ROLLBACK then fails with "no
 * transaction is active" and that error, not the one that matters, reached the caller.
 *
 * Each query's statement is prepared once and kept (see `cachingStatements`):
 * Kysely prepares every query it runs afresh, which was a tenth of the server's
 * CPU with a thousand hosts reporting their steps.
 */
export class SqliteKyselyDialect extends SqliteDialect {
  private readonly database: SQLite.Database;

  constructor(database: SQLite.Database) {
    const cached = cachingStatements(database);
    super({ database: cached });
    this.database = cached;
  }

  override createDriver(): Driver {
    return new SqliteKyselyDriver(this.database);
  }
}

class SqliteKyselyDriver extends SqliteDriver {
  /**
   * Who has the one connection, and who waits for it, in turn. Kysely's own
   * lock wakes every waiter at each release, and all but one go back to
   * waiting: with a thousand hosts' work queued, each query cost a thousand
   * wake-ups (500 queries waiting together made 138,283 promises; 16,533 so).
   * This hands the connection to the next in line only; Kysely's lock is
   * then always free when taken.
   */
  private readonly turns = new Turns();
  /** The callers of one run of hand-overs, committed together (see `GroupCommit`). */
  private readonly groups: GroupCommit;
  private connection: DatabaseConnection | undefined;

  constructor(private readonly database: SQLite.Database) {
    super({ database });
    this.groups = new GroupCommit(database);
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    await this.turns.take();
    let connection: DatabaseConnection;
    try {
      connection = await super.acquireConnection();
    } catch (err) {
      this.turns.pass();
      throw err;
    }
    try {
      this.groups.assertUsable();
      // Others wait behind this caller: their queries and its own share one commit.
      if (this.turns.waiters > 0) this.groups.begin();
    } catch (err) {
      await super.releaseConnection();
      this.turns.pass();
      throw err;
    }
    this.connection ??= noting(connection, this.groups);
    return this.connection;
  }

  /**
   * Gives the connection to the next in line, and answers the caller once
   * what it wrote is committed: at once alone, after the group's COMMIT in a group.
   */
  override async releaseConnection(): Promise<void> {
    await super.releaseConnection();
    // A group is committed when the run ends, or once it has been open for
    // GROUP_SPAN_MS: callers that keep coming (the loop turning while one
    // awaits I/O in its transaction) would otherwise hold every earlier
    // caller's answer, and one write transaction would keep growing.
    const endsRun = this.turns.endsRun() || this.groups.age >= GROUP_SPAN_MS;
    let committed: Promise<void> | undefined;
    try {
      committed = this.groups.leave(endsRun);
    } finally {
      this.turns.pass(endsRun);
    }
    await committed;
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    if (this.groups.open) this.groups.savepoint();
    else await super.beginTransaction(connection);
  }

  override async commitTransaction(connection: DatabaseConnection): Promise<void> {
    if (this.groups.open) this.groups.releaseSavepoint();
    else await super.commitTransaction(connection);
  }

  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (this.groups.open) return this.groups.rollbackSavepoint();
    if (!this.database.inTransaction) return;
    await super.rollbackTransaction(connection);
  }

  /**
   * Closes the database once whoever has the connection gives it back (a
   * handler half way through its transaction finishes it, rather than having
   * the file closed under it), at most `CLOSE_WAIT_MS` later. Those waiting
   * for it, and those who come after, are refused with `E_SERVER_STOPPING`.
   */
  override async destroy(): Promise<void> {
    const released = this.turns.close(
      () =>
        new FerryError(
          'E_SERVER_STOPPING',
          'The server is stopping: its database closed before this query had its turn',
        ),
    );
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      released,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS))),
    ]);
    clearTimeout(timer);
    // The holder did not give the connection back in time: the callers who
    // had their turn in its group are told the store stopped (their writes
    // go with the file's close), not left waiting for a commit that never comes.
    this.groups.abandon(
      new FerryError(
        'E_SERVER_STOPPING',
        'The server is stopping: its database closed before this write was committed',
      ),
    );
    await super.destroy();
  }
}

/**
 * How long closing waits for the one who has the connection to give it back,
 * in milliseconds: a query or a short transaction ends well within it, and
 * the server's whole stop has 8 s.
 */
const CLOSE_WAIT_MS = 2000;

/**
 * How long the connection goes from one waiter straight to the next before
 * the event loop gets a turn, in milliseconds (see `Turns`).
 */
export const TURN_BUDGET_MS = 10;

/** The longest a group of callers stays open before it is committed, in milliseconds. */
const GROUP_SPAN_MS = 50;

/**
 * A lock handed to one waiter at a time, first come first served.
 *
 * better-sqlite3 runs a query synchronously, so a hand-over to the next waiter
 * is a promise settled, not an I/O: a backlog of queued queries (a thousand
 * hosts' step reports) ran to its end on the microtask queue without the event
 * loop turning once. No timer, no new connection's TLS handshake, no answer's
 * write went out meanwhile: with 300 simulated hosts the loop stood still for
 * up to 17 s and `ferry status`, whose own work took under 100 ms, answered in
 * 40 s. After `budgetMs` of hand-overs without a turn of the loop, the next
 * waiter gets the connection after one (`setImmediate`): still in turn.
 */
class Turns {
  private held = false;
  private readonly waiting: { resolve: () => void; reject: (err: Error) => void }[] = [];
  /** Set once closed: makes what each caller is refused with from then on (each its own). */
  private closedWith: (() => Error) | undefined;
  /** Told when the connection is given back after the close. */
  private released: (() => void) | undefined;
  /** When the event loop last had a turn while the connection was in use. */
  private turnedAt = performance.now();
  private watching = false;

  constructor(private readonly budgetMs = TURN_BUDGET_MS) {}

  /** Resolves once it is the caller's turn. */
  take(): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith());
    this.watch();
    if (!this.held) {
      this.held = true;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  /** How many wait for the connection behind the one who has it. */
  get waiters(): number {
    return this.waiting.length;
  }

  /** True when the next `pass` ends a run of hand-overs: nobody waits, or the loop is due a turn. */
  endsRun(): boolean {
    return this.waiting.length === 0 || performance.now() - this.turnedAt >= this.budgetMs;
  }

  /**
   * Ends the caller's turn: the next in line has it (still held), or nobody.
   * `endsRun`, when given, is what `endsRun()` answered just before (the
   * group committed on it): the next waits for the loop's turn if it said so.
   */
  pass(endsRun = this.endsRun()): void {
    const next = this.waiting.shift()?.resolve;
    if (!next) {
      this.held = false;
      this.released?.();
      return;
    }
    if (!endsRun) {
      next();
      return;
    }
    setImmediate(() => {
      this.turnedAt = performance.now();
      next();
    });
  }

  /**
   * Refuses those waiting, and every caller from now on, with an error `error`
   * makes (one each: a caller's handler annotating its own is not seen by the
   * others). Resolves once the one who has the connection gives it back (at
   * once if nobody has it).
   */
  close(error: () => Error): Promise<void> {
    this.closedWith = error;
    for (const waiter of this.waiting.splice(0)) waiter.reject(error());
    if (!this.held) return Promise.resolve();
    return new Promise((resolve) => (this.released = resolve));
  }

  /** Notes the next turn of the event loop (one check at a time). */
  private watch(): void {
    if (this.watching) return;
    this.watching = true;
    setImmediate(() => {
      this.watching = false;
      this.turnedAt = performance.now();
    });
  }
}

/** The connection, telling `groups` of each statement that fails (it may have lost the group). */
function noting(connection: DatabaseConnection, groups: GroupCommit): DatabaseConnection {
  return {
    async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
      try {
        return await connection.executeQuery<R>(query);
      } catch (err) {
        groups.failed(err);
        throw err;
      }
    },
    streamQuery: (query, chunkSize) => connection.streamQuery(query, chunkSize),
  };
}

/**
 * The database, whose `prepare` answers the statement it prepared before for
 * the same SQL, the most recently used `size` of them. Kysely runs one query at
 * a time on its one SQLite connection, and runs each statement to its end
 * (`all` or `run`) before the next — the store streams no query — so a
 * statement is never in use twice at once; SQLite prepares a kept statement
 * again by itself after a schema change.
 */
export function cachingStatements(
  database: SQLite.Database,
  size = STATEMENT_CACHE_SIZE,
): SQLite.Database {
  const statements = new Map<string, SQLite.Statement>();
  const prepare = (sql: string): SQLite.Statement => {
    const kept = statements.get(sql);
    if (kept) {
      // Most recently used last: the first is the one to drop.
      statements.delete(sql);
      statements.set(sql, kept);
      return kept;
    }
    const statement = database.prepare(sql);
    statements.set(sql, statement);
    if (statements.size > size) statements.delete(statements.keys().next().value!);
    return statement;
  };
  return new Proxy(database, {
    get(target, property) {
      if (property === 'prepare') return prepare;
      // Native getters (`inTransaction`, `open`) read the database itself.
      const value: unknown = Reflect.get(target, property);
      return typeof value === 'function'
        ? (value as (...a: unknown[]) => unknown).bind(target)
        : value;
    },
  });
}
