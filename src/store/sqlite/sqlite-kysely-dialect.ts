import type SQLite from 'better-sqlite3';
import { type DatabaseConnection, type Driver, SqliteDialect, SqliteDriver } from 'kysely';

/**
 * Kysely's SQLite dialect, with a rollback that lets the first error through.
 * On some errors (SQLITE_FULL on a full disk, SQLITE_IOERR) SQLite rolls the
 * transaction back by itself; Kysely's own ROLLBACK then fails with "no
 * transaction is active" and that error, not the one that matters, reached the caller.
 */
export class SqliteKyselyDialect extends SqliteDialect {
  constructor(private readonly database: SQLite.Database) {
    super({ database });
  }

  override createDriver(): Driver {
    return new SqliteKyselyDriver(this.database);
  }
}

class SqliteKyselyDriver extends SqliteDriver {
  constructor(private readonly database: SQLite.Database) {
    super({ database });
  }

  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (!this.database.inTransaction) return;
    await super.rollbackTransaction(connection);
  }
}
