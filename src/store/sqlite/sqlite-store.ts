import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { KyselyStore } from '../kysely/kysely-store.js';
import type { SecretBox } from '../secret-box.js';
import { SqliteKyselyDialect } from './sqlite-kysely-dialect.js';
import { SqliteStoreDialect } from './sqlite-store-dialect.js';

/**
 * The embedded store: one SQLite file through better-sqlite3. Kysely's SQLite
 * driver runs one statement at a time on its single connection, so transactions
 * never interleave (what that spares SQLite is in `SqliteStoreDialect`). The
 * file and its WAL and SHM are the server's alone (0600): SQLite gives its side
 * files the mode of the database file.
 *
 * @example
 *   const store = SqliteStore.open('/var/lib/ferry/ferry.db', { secrets: box });
 *   await store.migrate();
 */
export class SqliteStore extends KyselyStore {
  private constructor(database: SQLite.Database, box: SecretBox | undefined) {
    super(new SqliteKyselyDialect(database), new SqliteStoreDialect(database), box);
  }

  static open(file: string, options: { secrets?: SecretBox } = {}): SqliteStore {
    if (file !== ':memory:') makePrivate(file);
    const database = new SQLite(file);
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.pragma('foreign_keys = ON');
    database.pragma('busy_timeout = 5000');
    // A deleted or replaced row is overwritten, not left in a free page: an
    // unset secret, or one sealed on start, leaves no plaintext in the file.
    database.pragma('secure_delete = ON');
    return new SqliteStore(database, options.secrets);
  }
}

/** Creates the database file 0600 if it is new, and makes it and its side files 0600 if not. */
function makePrivate(file: string): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600));
  for (const each of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) {
    if (existsSync(each)) chmodSync(each, 0o600);
  }
}
