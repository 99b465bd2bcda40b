import { sql, type Transaction } from 'kysely';
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

  /**
   * Appends one at a time: with concurrent appends, a later id could commit
   * before an earlier one and a reader that saw it would skip the earlier for
   * good.
   */
  async beforeAppendEvent(trx: Transaction<Database>): Promise<void> {
    await sql`select pg_advisory_xact_lock(${EVENTS_LOCK})`.execute(trx);
  }

  /** The notification is sent when the transaction commits, never before. */
  async afterAppendEvent(trx: Transaction<Database>, id: number): Promise<void> {
    await sql`select pg_notify(${EVENTS_CHANNEL}, ${String(id)})`.execute(trx);
  }

  /**
   * Listens on its own connection for the other replicas' appends; reconnects
   * (and calls `onAppended`, since appends may have been missed meanwhile)
   * when the connection drops.
   */
  async watchEvents(onAppended: () => void): Promise<() => Promise<void>> {
    let stopped = false;
    let client: pg.PoolClient | undefined;
    let retry: NodeJS.Timeout | undefined;
    const connect = async (): Promise<void> => {
      try {
        const next = await this.pool.connect();
        if (stopped) return next.release();
        client = next;
        next.on('notification', () => onAppended());
        next.on('error', () => {
          next.release(true);
          if (client === next) client = undefined;
          if (!stopped) retry = setTimeout(() => void connect(), 1000);
        });
        await next.query(`listen ${EVENTS_CHANNEL}`);
        onAppended();
      } catch {
        if (!stopped) retry = setTimeout(() => void connect(), 1000);
      }
    };
    await connect();
    return async () => {
      stopped = true;
      clearTimeout(retry);
      const last = client;
      client = undefined;
      if (!last) return;
      try {
        await last.query(`unlisten ${EVENTS_CHANNEL}`);
      } finally {
        last.release();
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
