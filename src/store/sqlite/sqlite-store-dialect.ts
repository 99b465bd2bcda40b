import type SQLite from 'better-sqlite3';
import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { StoreDialect } from '../store-dialect.js';
import { isSqliteStorageFull, isSqliteUniqueViolation } from './sqlite-errors.js';

/**
 * What SQLite does its own way. Kysely's SQLite driver runs one statement at
 * a time on the file's single connection, so there is one writer: ids commit
 * in order, a check then an insert cannot interleave with another, and no
 * other process appends events.
 */
export class SqliteStoreDialect implements StoreDialect {
  readonly serialType = 'integer';

  constructor(private readonly database: SQLite.Database) {}

  async migrating(migrate: () => Promise<void>): Promise<void> {
    await migrate();
    // What sealing replaced must leave the WAL too, and the main file get the new pages.
    this.database.pragma('wal_checkpoint(TRUNCATE)');
  }

  lockTableForInsert(): Promise<void> {
    return Promise.resolve();
  }

  /** SQLite has no `FOR UPDATE`: the transaction, on the file's one connection, is the lock. */
  forUpdate<Q>(query: Q): Q {
    return query;
  }

  /**
   * The one writer: the insert alone, ids committed in order (its own
   * transaction, or the group of queries queued with it: `GroupCommit`).
   */
  appendEvent(
    db: Kysely<Database>,
    insert: (db: Kysely<Database>) => Promise<number>,
  ): Promise<number> {
    return insert(db);
  }

  watchEvents(): Promise<() => Promise<void>> {
    return Promise.resolve(() => Promise.resolve());
  }

  isUniqueViolation(err: unknown): boolean {
    return isSqliteUniqueViolation(err);
  }

  isStorageFull(err: unknown): boolean {
    return isSqliteStorageFull(err);
  }
}
