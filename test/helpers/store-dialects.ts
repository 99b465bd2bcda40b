import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import type { Database } from '../../src/store/schema.js';
import { SqliteKyselyDialect } from '../../src/store/sqlite/sqlite-kysely-dialect.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { createMigratedDatabase } from './pg-database.js';
import { pgUrl } from './services.js';

/** A store of one dialect for one suite: a fresh database, and more connections to it. */
export interface StoreUnderTest {
  store: Store;
  /** Where the database is: SQLite's file, or PostgreSQL's URL (for a raw connection of a test's own). */
  url: string;
  /** Another store over the same database, as a second server replica would open it. */
  another(): Promise<Store>;
  /** A Kysely over the same database, for the queries under a store method (closed with it). */
  kysely(): Kysely<Database>;
  close(): Promise<void>;
}

/** A dialect the store contract runs on; `available` is false when its service is not configured. */
export interface StoreDialectCase {
  name: 'sqlite' | 'postgres';
  available: boolean;
  open(): Promise<StoreUnderTest>;
}

const postgresUrl = pgUrl();

/** Every dialect of the store, the real PostgreSQL when `FERRY_TEST_PG_URL` is set (required under CI). */
export const STORE_DIALECTS: StoreDialectCase[] = [
  {
    name: 'sqlite',
    available: true,
    async open() {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-store-'));
      const file = path.join(dir, 'ferry.db');
      const opened: Store[] = [SqliteStore.open(file)];
      await opened[0]!.migrate();
      const kysely: Kysely<Database>[] = [];
      return {
        store: opened[0]!,
        url: file,
        another() {
          const store = SqliteStore.open(file);
          opened.push(store);
          return Promise.resolve(store);
        },
        kysely() {
          const db = new Kysely<Database>({ dialect: new SqliteKyselyDialect(new SQLite(file)) });
          kysely.push(db);
          return db;
        },
        async close() {
          for (const db of kysely) await db.destroy();
          for (const store of opened) await store.close();
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'postgres',
    available: postgresUrl !== undefined,
    async open() {
      const database = await createMigratedDatabase(postgresUrl!, async (url) => {
        const store = await PostgresStore.open(url);
        await store.migrate();
        await store.close();
      });
      const opened: Store[] = [await PostgresStore.open(database.url)];
      // A copy of a migrated database: migrating finds nothing left to do.
      await opened[0]!.migrate();
      const kysely: Kysely<Database>[] = [];
      return {
        store: opened[0]!,
        url: database.url,
        async another() {
          const store = await PostgresStore.open(database.url);
          opened.push(store);
          return store;
        },
        kysely() {
          const pool = new pg.Pool({ connectionString: database.url, max: 2 });
          // As the store's own pool: a client still ending when the database is
          // dropped (with force) gets 57P01, which must not be an uncaught error.
          pool.on('error', () => undefined);
          const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
          kysely.push(db);
          return db;
        },
        async close() {
          for (const db of kysely) await db.destroy();
          for (const store of opened) await store.close();
          await database.drop();
        },
      };
    },
  },
];
