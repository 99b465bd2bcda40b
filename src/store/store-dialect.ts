import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.js';

/**
 * What differs between the databases the store runs on, and only that. The
 * queries are written once over Kysely (`kysely/`); each adapter implements
 * this in its own folder (`sqlite/sqlite-store-dialect.ts`,
 * `postgres/postgres-store-dialect.ts`), so shared code never asks which
 * database it is on.
 *
 * @example
 *   // A check then an insert, atomic across replicas on every database:
 *   await db.transaction().execute(async (trx) => {
 *     await dialect.lockTableForInsert(trx, 'tokens');
 *     if (!(await trx.selectFrom('tokens').select('id').executeTakeFirst())) await insert(trx);
 *   });
 */
export interface StoreDialect {
  /** The column type of an increasing integer key: `integer` (SQLite) or `bigserial`. */
  readonly serialType: 'integer' | 'bigserial';

  /**
   * Runs `migrate` (the schema's migrations and the sealing of stored secrets)
   * so that replicas starting together run each migration once, and does what
   * the database needs afterwards.
   */
  migrating(migrate: () => Promise<void>): Promise<void>;

  /**
   * Keeps every other writer from inserting into `table` until `trx` ends
   * (readers still read), so that a check followed by an insert is atomic
   * across replicas. A database with one writer at a time needs nothing.
   */
  lockTableForInsert(trx: Transaction<Database>, table: keyof Database): Promise<void>;

  /**
   * `query` made to lock the rows it reads until the transaction ends
   * (`SELECT … FOR UPDATE`), so that a check of a row and the writes that
   * depend on it are atomic against another writer of that row. A database
   * with one writer at a time (its transaction is the lock) returns it as is.
   *
   * @example
   *   const host = await dialect.forUpdate(trx.selectFrom('hosts').selectAll().where('id', '=', id)).executeTakeFirst();
   */
  forUpdate<Q extends { forUpdate(): Q }>(query: Q): Q;

  /**
   * Runs `insert` (an event's append; it gives the new event's id) so that a
   * reader that has seen event n never later finds one numbered below n, and
   * the other replicas hear of it once it is committed. With concurrent
   * writers, appends are serialized in a transaction of their own; a
   * database with one writer on one connection runs the insert as it is (one
   * statement is its own transaction: no BEGIN and COMMIT around it, every
   * step a host reports being an event).
   */
  appendEvent(
    db: Kysely<Database>,
    insert: (db: Kysely<Database>) => Promise<number>,
  ): Promise<number>;
  /**
   * Calls `onAppended` when another process (a replica) appended events, with
   * the id appended when it is known (a notification of this process's own
   * appends comes too: the id tells it was heard already); the returned
   * function stops watching. An embedded database has no other process.
   */
  watchEvents(onAppended: (id?: number) => void): Promise<() => Promise<void>>;

  /** True when an error of this database is a violated primary key or unique constraint. */
  isUniqueViolation(err: unknown): boolean;
  /** True when an error of this database says its disk is full. */
  isStorageFull(err: unknown): boolean;
}
