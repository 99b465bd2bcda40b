import { type Kysely, sql, type Transaction } from 'kysely';
import type pg from 'pg';
import type { Database } from '../schema.js';
import type { StoreDialect } from '../store-dialect.js';
import { isPostgresStorageFull, isPostgresUniqueViolation } from './postgres-errors.js';

/** Any number, the same on every replica: the advisory lock migrations run under. */
const MIGRATION_LOCK = 74_004;

/** The transaction-level advisory lock under which events are appended, one at a time. */
const EVENTS_LOCK = 74_005;

/** The channel on which a replica that appended events wakes the others. */
const EVENTS_CHANNEL = 'ferry_events';

/**
 * What PostgreSQL does its own way: several replicas write at once, so
 * migrations run under an advisory lock, event appends are serialized and
 * announced with NOTIFY, and a check-then-insert locks its table.
 */
export class PostgresStoreDialect implements StoreDialect {
  readonly serialType = 'bigserial';

  constructor(private readonly pool: pg.Pool) {}

  async migrating(migrate: () => Promise<void>): Promise<void> {
    // Kysely's own migration lock needs its tables to exist, and two replicas
    // creating them at once can collide: a session-level advisory lock taken
    // first makes the second replica wait, then find everything done.
    const client = await this.pool.connect();
    try {
      await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
      try {
        await migrate();
      } finally {
        await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]);
      }
    } finally {
      client.release();
    }
  }

  async lockTableForInsert(trx: Transaction<Database>, table: keyof Database): Promise<void> {
    // Another replica's insert between our check and ours waits for our commit.
    await sql`lock table ${sql.table(table)} in share row exclusive mode`.execute(trx);
  }

  forUpdate<Q extends { forUpdate(): Q }>(query: Q): Q {
    return query.forUpdate();
  }

  /**
   * Appends one at a time: with concurrent appends, a later id could commit
   * before an earlier one and a reader that saw it would skip the earlier for
   * good. The notification is sent when the transaction commits, never before.
   */
  appendEvent(
    db: Kysely<Database>,
    insert: (db: Kysely<Database>) => Promise<number>,
  ): Promise<number> {
    return db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${EVENTS_LOCK})`.execute(trx);
      const id = await insert(trx);
      await sql`select pg_notify(${EVENTS_CHANNEL}, ${String(id)})`.execute(trx);
      return id;
    });
  }

  /**
   * Listens on its own connection for the other replicas' appends; reconnects
   * (and calls `onAppended`, since appends may have been missed meanwhile)
   * when the connection drops.
   *
   * A connection is given back to the pool exactly once, whatever comes first:
   * its errors (including one after the stop gave it back to the pool), a
   * failed LISTEN, or the stop (which UNLISTENs first, queued after a LISTEN
   * still under way). A stop while a connection is still being made gives
   * that one back when it is made.
   */
  async watchEvents(onAppended: (id?: number) => void): Promise<() => Promise<void>> {
    let stopped = false;
    let listening: { client: pg.PoolClient; giveBack: (broken: boolean) => void } | undefined;
    let retry: NodeJS.Timeout | undefined;
    const retryLater = () => {
      clearTimeout(retry);
      if (!stopped) retry = setTimeout(() => void connect(), 1000);
    };
    const connect = async (): Promise<void> => {
      let next: pg.PoolClient;
      try {
        next = await this.pool.connect();
      } catch {
        retryLater();
        return;
      }
      let givenBack = false;
      const notified = (message: pg.Notification) => {
        const id = Number(message.payload);
        onAppended(Number.isSafeInteger(id) && id > 0 ? id : undefined);
      };
      const giveBack = (broken: boolean) => {
        if (givenBack) return;
        givenBack = true;
        if (listening?.client === next) listening = undefined;
        next.removeListener('notification', notified);
        next.release(broken);
      };
      const drop = () => {
        if (givenBack) return;
        giveBack(true);
        retryLater();
      };
      // Stays on the client: a second error after it was given back must not throw.
      next.on('error', drop);
      if (stopped) return giveBack(false);
      listening = { client: next, giveBack };
      next.on('notification', notified);
      try {
        await next.query(`listen ${EVENTS_CHANNEL}`);
      } catch {
        drop();
        return;
      }
      // Stopped while LISTEN was answered: the stop has given this one back.
      if (stopped) return;
      onAppended();
    };
    await connect();
    return async () => {
      stopped = true;
      clearTimeout(retry);
      const last = listening;
      if (!last) return;
      try {
        await last.client.query(`unlisten ${EVENTS_CHANNEL}`);
        last.giveBack(false);
      } catch {
        last.giveBack(true);
      }
    };
  }

  isUniqueViolation(err: unknown): boolean {
    return isPostgresUniqueViolation(err);
  }

  isStorageFull(err: unknown): boolean {
    return isPostgresStorageFull(err);
  }
}
