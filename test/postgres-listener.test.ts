import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStoreDialect } from '../src/store/postgres/postgres-store-dialect.js';
import { waitFor } from './helpers/cluster.js';
import { createTestDatabase } from './helpers/pg-database.js';
import { testService } from './helpers/services.js';

/**
 * The connection on which a PostgreSQL replica listens for the others'
 * events, when it drops. Its error handler once stayed on the connection
 * after the stop had given it back to the pool: when the database then went
 * (a test database dropped `with (force)` beside it, a restart, a failover),
 * the handler gave the pooled connection back a second time — an uncaught
 * exception, which kills a server (seen once in a full test run).
 */

const pgUrl = testService('FERRY_TEST_PG_URL', 'PostgreSQL');

describe.skipIf(!pgUrl)('the PostgreSQL events listener', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: pg.Pool;
  let admin: pg.Client;
  const uncaught: unknown[] = [];
  const keep = (err: unknown) => uncaught.push(err);

  beforeAll(async () => {
    process.on('uncaughtException', keep);
    database = await createTestDatabase(pgUrl!);
    pool = new pg.Pool({ connectionString: database.url });
    pool.on('error', () => undefined);
    admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
  });
  afterAll(async () => {
    await admin.end();
    await pool.end();
    await database.drop();
    process.off('uncaughtException', keep);
  });

  /** Terminates this database's listening backends (no one else's: the database is the test's own). */
  async function terminateListeners(): Promise<number> {
    const { rows } = await admin.query<{ pid: number }>(
      `select pg_terminate_backend(pid), pid from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid() and query like 'listen %'`,
    );
    return rows.length;
  }

  it('gives a dropped connection back once, listens again, and hears the next append', async () => {
    let woken = 0;
    const stop = await new PostgresStoreDialect(pool).watchEvents(() => woken++);
    expect(woken).toBe(1);
    expect(await terminateListeners()).toBe(1);
    // It reconnects (and wakes, since appends may have been missed meanwhile).
    await waitFor('the listener to be back', () => Promise.resolve(woken >= 2 ? true : undefined));
    await admin.query(`notify ferry_events, '1'`);
    await waitFor('the notification', () => Promise.resolve(woken >= 3 ? true : undefined));
    await stop();
    expect(uncaught).toEqual([]);
    // Given back: nothing left checked out of the pool.
    expect(pool.totalCount - pool.idleCount).toBe(0);
  });

  it('survives its database being dropped under it, listening or stopped', async () => {
    for (const stopFirst of [false, true]) {
      const doomed = await createTestDatabase(pgUrl!);
      const doomedPool = new pg.Pool({ connectionString: doomed.url });
      doomedPool.on('error', () => undefined);
      const stop = await new PostgresStoreDialect(doomedPool).watchEvents(() => undefined);
      // Stopped, its connection waits idle in the pool when the database goes.
      if (stopFirst) await stop();
      await doomed.drop();
      // Long enough for the errors, and a retry that finds no database.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      if (!stopFirst) await stop();
      await doomedPool.end();
      expect(uncaught).toEqual([]);
    }
  });

  it('leaves nothing listening, nor checked out, when stopped while its LISTEN is answered', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let connects = 0;
    // The second connection (after the drop) holds its LISTEN until the stop was asked for.
    const heldPool = {
      connect: async () => {
        const client = await pool.connect();
        if (++connects === 1) return client;
        const query = client.query.bind(client) as (text: string) => Promise<unknown>;
        return Object.assign(client, {
          // LISTEN is sent, its answer held back: the stop comes meanwhile.
          query: async (text: string) => {
            const answer = await query(text);
            if (text.startsWith('listen')) await gate;
            return answer;
          },
        });
      },
    } as unknown as pg.Pool;
    const stop = await new PostgresStoreDialect(heldPool).watchEvents(() => undefined);
    expect(await terminateListeners()).toBe(1);
    await waitFor('the listener to connect again', () =>
      Promise.resolve(connects === 2 ? true : undefined),
    );
    await stop();
    release();
    await waitFor('its connection to be given back', () =>
      Promise.resolve(pool.totalCount - pool.idleCount === 0 ? true : undefined),
    );
    expect(await terminateListeners()).toBe(0);
    expect(uncaught).toEqual([]);
  });
});
