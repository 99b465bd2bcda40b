import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { FerryError } from '../../protocol/errors.js';
import { KyselyStore } from '../kysely-store.js';
import { redact } from '../../protocol/redact-url.js';
import type { Database } from '../schema.js';
import type { SecretBox } from '../secret-box.js';

/** Any number, the same on every replica: the advisory lock migrations run under. */
const MIGRATION_LOCK = 74_004;

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
    super(db, 'postgres', box);
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
