import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { FerryError } from '../../protocol/errors.js';
import { KyselyStore } from '../kysely/kysely-store.js';
import { redact } from '../../protocol/redact-url.js';
import type { Database } from '../schema.js';
import type { SecretBox } from '../secret-box.js';
import { PostgresStoreDialect } from './postgres-store-dialect.js';

/**
 * The store at scale: a PostgreSQL database through Kysely and `pg`, shared by
 * every server replica. What PostgreSQL does its own way (migrations under an
 * advisory lock, events announced with NOTIFY) is in `PostgresStoreDialect`.
 *
 * @example
 *   const store = await PostgresStore.open('postgres://ferry@db.internal/ferry');
 *   await store.migrate();
 */
export class PostgresStore extends KyselyStore {
  private constructor(db: Kysely<Database>, pool: pg.Pool, box: SecretBox | undefined) {
    super(db, new PostgresStoreDialect(pool), box);
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
}
