import type {
  DatabaseConnection,
  DatabaseIntrospector,
  Dialect,
  DialectAdapter,
  Driver,
  Kysely,
  QueryCompiler,
  TransactionSettings,
} from 'kysely';
import { FerryError } from '../../protocol/errors.js';

/**
 * A Kysely dialect whose queries, once the store closes (`close`), are
 * refused with `E_SERVER_STOPPING`, as those already waiting for a connection
 * then are (each dialect's own queue refuses them). Closed by
 * `Kysely.destroy()`, every query after it got Kysely's own "driver has
 * already been destroyed" instead (Kysely says so before asking the driver),
 * a plain error that reached the client as a 500 while the server stopped.
 * The store closes through this, never through `Kysely.destroy()`.
 *
 * @example
 *   const dialect = new ClosingDialect(new SqliteKyselyDialect(database));
 *   const db = new Kysely<Database>({ dialect });
 *   await dialect.close(); // db's queries from now on: E_SERVER_STOPPING
 */
export class ClosingDialect implements Dialect {
  private driver: ClosingDriver | undefined;

  constructor(private readonly dialect: Dialect) {}

  createDriver(): Driver {
    this.driver = new ClosingDriver(this.dialect.createDriver());
    return this.driver;
  }

  createQueryCompiler(): QueryCompiler {
    return this.dialect.createQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return this.dialect.createAdapter();
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return this.dialect.createIntrospector(db);
  }

  /**
   * Refuses every query from now on and closes the driver (which lets whoever
   * has a connection finish). Later calls wait for the first (or try again if it failed).
   */
  async close(): Promise<void> {
    await this.driver?.destroy();
  }
}

/** The dialect's driver, refusing connections once it is destroyed. */
class ClosingDriver implements Driver {
  private closed = false;
  private initing: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly driver: Driver) {}

  /** Sets the driver up once; one that failed is tried again at the next call. */
  init(): Promise<void> {
    this.initing ??= this.driver.init().catch((err: unknown) => {
      this.initing = undefined;
      throw err;
    });
    return this.initing;
  }

  acquireConnection(): Promise<DatabaseConnection> {
    if (this.closed)
      return Promise.reject(
        new FerryError(
          'E_SERVER_STOPPING',
          'The server is stopping: its database closed before this query came',
        ),
      );
    return this.driver.acquireConnection();
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.driver.releaseConnection(connection);
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.driver.beginTransaction(connection, settings);
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.driver.commitTransaction(connection);
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.driver.rollbackTransaction(connection);
  }

  savepoint(...args: SavepointArgs): Promise<void> {
    if (!this.driver.savepoint) return unsupported('savepoint');
    return this.driver.savepoint(...args);
  }

  rollbackToSavepoint(...args: SavepointArgs): Promise<void> {
    if (!this.driver.rollbackToSavepoint) return unsupported('rollbackToSavepoint');
    return this.driver.rollbackToSavepoint(...args);
  }

  releaseSavepoint(...args: SavepointArgs): Promise<void> {
    if (!this.driver.releaseSavepoint) return unsupported('releaseSavepoint');
    return this.driver.releaseSavepoint(...args);
  }

  /**
   * Closes the driver once; a close that failed is tried again by the next.
   * A driver no query ever used is set up first: until then it holds no
   * handle of the database (SQLite's file, PostgreSQL's pool), so its
   * `destroy` alone would leave them open.
   */
  destroy(): Promise<void> {
    this.closed = true;
    this.closing ??= this.init()
      .then(() => this.driver.destroy())
      .catch((err: unknown) => {
        this.closing = undefined;
        throw err;
      });
    return this.closing;
  }
}

type SavepointArgs = Parameters<NonNullable<Driver['savepoint']>>;

/** What Kysely says itself when a driver has not the savepoint method asked for. */
function unsupported(method: string): Promise<never> {
  return Promise.reject(new Error(`The \`${method}\` method is not supported by this driver`));
}
