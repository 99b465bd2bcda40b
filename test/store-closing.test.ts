import { readdir, readlink } from 'node:fs/promises';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { FerryError } from '../src/protocol/errors.js';
import type { Database } from '../src/store/schema.js';
import { STORE_DIALECTS, type StoreUnderTest } from './helpers/store-dialects.js';

/**
 * A store closing while callers wait for a database connection (the server
 * stopping under load): those who have one finish, those still waiting are
 * refused with E_SERVER_STOPPING, and the close ends. Each dialect has its
 * own queue (SQLite's one connection, PostgreSQL's pool); every connection is
 * held by a transaction waiting on a gate, then a few more callers queue.
 */
for (const dialect of STORE_DIALECTS) {
  describe.skipIf(!dialect.available)(`${dialect.name} store, closing`, () => {
    let under: StoreUnderTest | undefined;
    afterEach(async () => {
      await under?.close();
      under = undefined;
    });

    it('lets those with a connection finish and refuses those waiting, with E_SERVER_STOPPING', async () => {
      under = await dialect.open();
      const { store } = under;
      // The store's own Kysely: what every store method queues on.
      const db = (store as unknown as { db: Kysely<Database> }).db;
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      // More than either has connections (SQLite 1, the PostgreSQL pool 10).
      let holding = 0;
      const outcomes = Array.from({ length: 13 }, () =>
        db
          .transaction()
          .execute(async (trx) => {
            await sql`SELECT 1`.execute(trx);
            holding++;
            await gate;
            await sql`SELECT 2`.execute(trx);
          })
          .then(
            () => 'finished',
            (err: unknown) => err,
          ),
      );
      const connections = dialect.name === 'sqlite' ? 1 : 10;
      const deadline = Date.now() + 10_000;
      while (holding < connections && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      expect(holding).toBe(connections);
      const closed = store.close();
      open();
      await closed;
      const settled = await Promise.all(outcomes);
      expect(settled.filter((o) => o === 'finished')).toHaveLength(connections);
      const refused = settled.filter((o) => o !== 'finished');
      expect(refused).toHaveLength(13 - connections);
      // Each its own: one caller's handler annotating its error is not seen by the others.
      expect(new Set(refused).size).toBe(refused.length);
      for (const error of refused) {
        expect(error).toBeInstanceOf(FerryError);
        expect(error).toMatchObject({ code: 'E_SERVER_STOPPING' });
      }
    });

    it('lets the database go when it closes before any query was made', async () => {
      under = await dialect.open();
      const database = under.url;
      // What of the database this process holds: SQLite's open files, PostgreSQL's sessions.
      const held = async (): Promise<number> => {
        if (dialect.name === 'sqlite') {
          const fds = await readdir('/proc/self/fd');
          const targets = await Promise.all(
            fds.map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')),
          );
          return targets.filter((target) => target.startsWith(database)).length;
        }
        const client = new pg.Client({ connectionString: database });
        await client.connect();
        try {
          const { rows } = await client.query<{ n: string }>(
            "select count(*) as n from pg_stat_activity where datname = current_database() and backend_type = 'client backend' and pid <> pg_backend_pid()",
          );
          return Number(rows[0]!.n);
        } finally {
          await client.end();
        }
      };
      const unused = await under.another();
      expect(await held()).toBeGreaterThan(0);
      // Both closed: SQLite keeps a closed connection's file open while
      // another connection of the process has it (its locks would go with it).
      await unused.close();
      await under.store.close();
      // A session ends on the server a moment after its client lets it go.
      const deadline = Date.now() + 5000;
      let after = await held();
      while (after > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        after = await held();
      }
      expect(after).toBe(0);
    });

    it("refuses a query that comes while it closes, or after, with E_SERVER_STOPPING (not Kysely's own error)", async () => {
      under = await dialect.open();
      const { store } = under;
      const db = (store as unknown as { db: Kysely<Database> }).db;
      const refusal = (query: Promise<unknown>) =>
        query.then(
          () => 'answered',
          (err: unknown) => err,
        );
      // A handler half way through its transaction holds the close open.
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      let holding!: () => void;
      const held = new Promise<void>((resolve) => (holding = resolve));
      const holder = db.transaction().execute(async (trx) => {
        await sql`SELECT 1`.execute(trx);
        holding();
        await gate;
      });
      await held;
      const closed = store.close();
      await new Promise((resolve) => setTimeout(resolve, 20));
      const whileClosing = refusal(store.events.lastId());
      open();
      await holder;
      await closed;
      const after = [
        await refusal(store.events.lastId()),
        await refusal(db.transaction().execute((trx) => sql`SELECT 1`.execute(trx))),
      ];
      for (const error of [await whileClosing, ...after]) {
        expect(error).toBeInstanceOf(FerryError);
        expect(error).toMatchObject({ code: 'E_SERVER_STOPPING' });
      }
    });
  });
}
