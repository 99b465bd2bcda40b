import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely } from 'kysely';
import { KyselyStore } from '../kysely-store.js';
import type { Database } from '../schema.js';
import { SqliteStoreDialect } from './sqlite-store-dialect.js';

/**
 * The embedded store: one SQLite file through better-sqlite3. Kysely's SQLite
 * driver runs one statement at a time on its single connection, so transactions
 * never interleave.
 *
 * @example
 *   const store = SqliteStore.open('/var/lib/ferry/ferry.db');
 *   await store.migrate();
 */
export class SqliteStore extends KyselyStore {
  static open(file: string): SqliteStore {
    if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
    const database = new SQLite(file);
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.pragma('foreign_keys = ON');
    database.pragma('busy_timeout = 5000');
    return new SqliteStore(
      new Kysely<Database>({ dialect: new SqliteStoreDialect(database) }),
      'sqlite',
    );
  }
}
