import { Kysely, PostgresDialect, sql } from 'kysely';
import type { EventOrdering } from '../kysely-event-queries.js';
import pg from 'pg';
import { FerryError } from '../../protocol/errors.js';
import { KyselyStore } from '../kysely-store.js';
import { redact } from '../../protocol/redact-url.js';
import type { Database } from '../schema.js';
import type { SecretBox } from '../secret-box.js';

/** Any number, the same on every replica: the advisory lock migrations run under. */
const MIGRATION_LOCK = 74_004;

/** The transaction-level advisory lock under which events are appended, one at a time. */
const EVENTS_LOCK = 74_005;

/** The channel on which a replica that appended events wakes the others. */
const EVENTS_CHANNEL = 'ferry_events';

/**
 * Appends one at a time: with concurrent appends, a later id could commit
 * before an earlier one and a reader that saw it would skip the earlier for
 * good. The notification is sent when the transaction commits, never before.
 */
const SERIALIZED_APPENDS: EventOrdering = {
  async beforeAppend(trx) {
    await sql`select pg_advisory_xact_lock(${EVENTS_LOCK})`.execute(trx);
  },
  async afterAppend(trx, id) {
    await sql`select pg_notify(${EVENTS_CHANNEL}, ${String(id)})`.execute(trx);
  },
};

/**
 * The store at scale: a PostgreSQL database through Kysely and `pg`, shared by
 * every server replica. Migrations run under an advisory lock, so replicas that
 * start together run each migration once.
 *
 * @example
 *   const store = await PostgresStore.open('postgres://ferry@db.internal/ferry');
 *   await store.migrate();
 */
export class PostgresStore extends KyselyStore {
  private constructor(
    db: Kysely<Database>,
    private readonly pool: pg.Pool,
    box: SecretBox | undefined,
  ) {
    super(db, 'postgres', box, SERIALIZED_APPENDS);
  }

  /** Connects to the database (once, to say clearly when it cannot) and opens a pool. */
  static async open(
    url: string,
    options: { poolSize?: number; secrets?: SecretBox } = {},
  ): Promise<PostgresStore> {
    const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 10 });
    // An idle client that loses its server must not take the process down.
    pool.on('error', () => undefined);
    try {
      const client = await pool.connect();
      client.release();
    } catch (err) {
      await pool.end();
      throw new FerryError(
        'E_CONFIG_INVALID',
        `Cannot connect to the PostgreSQL store at ${redact(url)}: ${(err as Error).message}`,
        { store: redact(url) },
      );
    }
    return new PostgresStore(
      new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }),
      pool,
      options.secrets,
    );
  }

  /**
   * Listens on its own connection for the other replicas' appends; reconnects
   * (and calls `onAppended`, since appends may have been missed meanwhile)
   * when the connection drops.
   */
  override async watchEvents(onAppended: () => void): Promise<() => Promise<void>> {
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

  override async migrate(): Promise<void> {
    // Kysely's own migration lock needs its tables to exist, and two replicas
    // creating them at once can collide: a session-level advisory lock taken
    // first makes the second replica wait, then find everything done.
    const client = await this.pool.connect();
    try {
      await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
      try {
        await super.migrate();
      } finally {
        await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]);
      }
    } finally {
      client.release();
    }
  }
}
