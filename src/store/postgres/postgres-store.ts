import { PostgresDialect } from 'kysely';
import pg from 'pg';
import { FerryError } from '../../protocol/errors.js';
import { KyselyStore } from '../kysely/kysely-store.js';
import { redact } from '../../protocol/redact-url.js';
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
  private constructor(pool: pg.Pool, box: SecretBox | undefined) {
    super(
      new PostgresDialect({ pool: refusingOnceEnded(pool) }),
      new PostgresStoreDialect(pool),
      box,
    );
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
    return new PostgresStore(pool, options.secrets);
  }
}

/** What Kysely asks of a pool (its `PostgresPool`, narrowed to what the store uses). */
interface KyselyPool {
  connect(): Promise<pg.PoolClient>;
  end(): Promise<void>;
}

/**
 * The pool as Kysely uses it, whose callers still waiting for a client when it
 * ends are refused with `E_SERVER_STOPPING`: `pg`'s pool, ending, lets those
 * that have a client finish but leaves those waiting waiting for ever (a
 * request in the server stopping under load never answered, its handler never
 * ended).
 */
function refusingOnceEnded(pool: pg.Pool): KyselyPool {
  let ended = false;
  // One each: a caller's handler annotating its error is not seen by the others.
  const stopping = () =>
    new FerryError(
      'E_SERVER_STOPPING',
      'The server is stopping: its database pool closed before this query had a connection',
    );
  const waiting = new Set<(err: FerryError) => void>();
  return {
    connect() {
      if (ended) return Promise.reject(stopping());
      return new Promise((resolve, reject) => {
        let refused = false;
        const refuse = (err: FerryError) => {
          refused = true;
          reject(err);
        };
        waiting.add(refuse);
        pool.connect().then(
          (client) => {
            waiting.delete(refuse);
            // Refused meanwhile: the client goes back (and, the pool ending, away).
            if (refused) client.release();
            else resolve(client);
          },
          (err: unknown) => {
            waiting.delete(refuse);
            if (!refused) reject(err instanceof Error ? err : new Error(String(err)));
          },
        );
      });
    },
    async end() {
      ended = true;
      for (const refuse of waiting) refuse(stopping());
      waiting.clear();
      // It waits for every client handed out: a query that never ends (a
      // handler left running past the transport's stop) would hold the stop
      // for ever. At most 2 s, as SQLite's; the pool ends on its own after.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        pool.end(),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, 2000);
          timer.unref();
        }),
      ]);
      clearTimeout(timer);
    },
  };
}
