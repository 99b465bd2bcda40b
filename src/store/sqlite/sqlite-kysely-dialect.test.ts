import SQLite from 'better-sqlite3';
import { createHook } from 'node:async_hooks';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Kysely, sql } from 'kysely';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FerryError } from '../../protocol/errors.js';
import { cachingStatements, SqliteKyselyDialect } from './sqlite-kysely-dialect.js';

interface Db {
  items: { id: number; name: string };
}

let database: SQLite.Database | undefined;
afterEach(() => database?.close());

/** A database in memory with a table, and a count of the statements SQLite prepared. */
function opened(): { db: Kysely<Db>; prepared: () => number } {
  database = new SQLite(':memory:');
  database.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)');
  const prepare = vi.spyOn(database, 'prepare');
  const db = new Kysely<Db>({ dialect: new SqliteKyselyDialect(database) });
  return { db, prepared: () => prepare.mock.calls.length };
}

describe("the SQLite dialect's statements", () => {
  it('are prepared once per query, whatever its parameters', async () => {
    const { db, prepared } = opened();
    for (let i = 1; i <= 20; i++)
      await db
        .insertInto('items')
        .values({ id: i, name: `n${i}` })
        .execute();
    const afterInserts = prepared();
    const names: string[] = [];
    for (let i = 1; i <= 20; i++) {
      const row = await db
        .selectFrom('items')
        .select('name')
        .where('id', '=', i)
        .executeTakeFirst();
      names.push(row!.name);
    }
    // One insert and one select, each prepared once; the answers are each query's own.
    expect(afterInserts).toBe(1);
    expect(prepared()).toBe(2);
    expect(names).toEqual(Array.from({ length: 20 }, (_, i) => `n${i + 1}`));
  });

  it('are kept across transactions, and a rolled-back write leaves nothing', async () => {
    const { db, prepared } = opened();
    await db
      .transaction()
      .execute((tx) => tx.insertInto('items').values({ id: 1, name: 'a' }).execute());
    const once = prepared();
    await expect(
      db.transaction().execute(async (tx) => {
        await tx.insertInto('items').values({ id: 2, name: 'b' }).execute();
        throw new Error('changed its mind');
      }),
    ).rejects.toThrow('changed its mind');
    await db
      .transaction()
      .execute((tx) => tx.insertInto('items').values({ id: 3, name: 'c' }).execute());
    // BEGIN, the insert and COMMIT were kept; only ROLLBACK was new.
    expect(prepared()).toBe(once + 1);
    const rows = await db.selectFrom('items').select('id').orderBy('id').execute();
    expect(rows.map((r) => r.id)).toEqual([1, 3]);
  });

  it('see a schema change made after they were prepared', async () => {
    const { db } = opened();
    await db.insertInto('items').values({ id: 1, name: 'a' }).execute();
    const query = () => sql<Record<string, unknown>>`SELECT * FROM items`.execute(db);
    expect((await query()).rows).toEqual([{ id: 1, name: 'a' }]);
    await sql`ALTER TABLE items ADD COLUMN size INTEGER NOT NULL DEFAULT 7`.execute(db);
    expect((await query()).rows).toEqual([{ id: 1, name: 'a', size: 7 }]);
  });

  it('are at most `size`, the least recently used dropped first', () => {
    database = new SQLite(':memory:');
    const prepare = vi.spyOn(database, 'prepare');
    const cached = cachingStatements(database, 2);
    const one = cached.prepare('SELECT 1');
    cached.prepare('SELECT 2');
    expect(cached.prepare('SELECT 1')).toBe(one);
    cached.prepare('SELECT 3'); // drops SELECT 2, used least recently
    expect(cached.prepare('SELECT 1')).toBe(one);
    cached.prepare('SELECT 2');
    expect(prepare.mock.calls.map(([text]) => text)).toEqual([
      'SELECT 1',
      'SELECT 2',
      'SELECT 3',
      'SELECT 2',
    ]);
    // The rest is the database's own.
    expect(cached.inTransaction).toBe(false);
    expect(cached.open).toBe(true);
  });
});

describe("the SQLite dialect's one connection", () => {
  it('is handed to those waiting for it in turn, each woken once, not every waiter at every release', async () => {
    const { db } = opened();
    database!.exec(`CREATE TABLE runs (seq INTEGER PRIMARY KEY AUTOINCREMENT, item INTEGER);
      CREATE TRIGGER noted AFTER INSERT ON items BEGIN INSERT INTO runs (item) VALUES (new.id); END`);
    // Promises made while 500 queries wait for the connection together: Kysely's
    // own lock woke every waiter at each release (a promise each), 125,000 here.
    let promises = 0;
    const hook = createHook({
      init: (_id, type) => {
        if (type === 'PROMISE') promises++;
      },
    });
    const done: number[] = [];
    hook.enable();
    try {
      await Promise.all(
        Array.from({ length: 500 }, (_, i) =>
          (i === 250
            ? db
                .transaction()
                .execute((trx) =>
                  trx
                    .insertInto('items')
                    .values({ id: 100_000, name: 'in a transaction' })
                    .execute(),
                )
            : db
                .insertInto('items')
                .values({ id: i, name: `n${i}` })
                .execute()
          ).then(() => done.push(i)),
        ),
      );
    } finally {
      hook.disable();
    }
    // First come, first served: the order the inserts ran in, which a trigger
    // notes. (Answers to callers committed together come in their own order.)
    const ran = database!
      .prepare('SELECT item FROM runs ORDER BY seq')
      .all()
      .map((row) => (row as { item: number }).item);
    expect(ran).toEqual(Array.from({ length: 500 }, (_, i) => (i === 250 ? 100_000 : i)));
    // All answered, and all there.
    expect([...done].sort((a, b) => a - b)).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(
      (
        await db
          .selectFrom('items')
          .select(sql<number>`count(*)`.as('n'))
          .executeTakeFirst()
      )?.n,
    ).toBe(500);
    expect(promises).toBeLessThan(500 * 60);
  });
});

describe("the SQLite dialect's queue", () => {
  it('lets the event loop turn while a backlog of queries runs, and still runs them in turn', async () => {
    const { db } = opened();
    // Each query is a little work for SQLite (counting to 20,000); 100 of them
    // queued together take far longer than the budget between turns of the loop.
    const counting = (to: number) => sql<{ n: number }>`
      WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${to})
      SELECT count(*) AS n FROM c`;
    const slow = (i: number) => counting(20000 + i).execute(db);
    const done: number[] = [];
    let doneWhenTimerRan: number | undefined;
    setTimeout(() => (doneWhenTimerRan = done.length), 0);
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        slow(i).then((r) => {
          done.push(i);
          return r.rows[0]!.n;
        }),
      ),
    );
    // A timer set before the backlog ran before its end (better-sqlite3 answers
    // synchronously: handed over on promises alone, all 100 ran first).
    expect(doneWhenTimerRan).toBeDefined();
    expect(doneWhenTimerRan).toBeLessThan(100);
    expect(done).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(answers).toEqual(Array.from({ length: 100 }, (_, i) => 20000 + i));
  });
});

describe("the SQLite dialect's one connection, when the store closes", () => {
  it('lets the one who has it finish, and refuses those waiting for it with a clear error', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-sqlite-close-'));
    const file = path.join(dir, 'ferry.db');
    database = new SQLite(file);
    database.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)');
    const db = new Kysely<Db>({ dialect: new SqliteKyselyDialect(database) });
    // A handler half way through its transaction when the server stops.
    let finish!: () => void;
    const halfWay = new Promise<void>((resolve) => (finish = resolve));
    let inside!: () => void;
    const started = new Promise<void>((resolve) => (inside = resolve));
    const holder = db.transaction().execute(async (trx) => {
      await trx.insertInto('items').values({ id: 1, name: 'first half' }).execute();
      inside();
      await halfWay;
      await trx.insertInto('items').values({ id: 2, name: 'second half' }).execute();
    });
    await started;
    // Three more callers wait for the connection.
    const waiting = [3, 4, 5].map((id) =>
      db.insertInto('items').values({ id, name: 'waiting' }).execute(),
    );
    const settled = waiting.map((w) =>
      w.then(
        () => 'written',
        (err: unknown) => err,
      ),
    );
    const closed = db.destroy();
    finish();
    await expect(holder).resolves.toBeUndefined();
    await closed;
    for (const outcome of await Promise.all(settled)) {
      expect(outcome).toBeInstanceOf(FerryError);
      expect(outcome).toMatchObject({ code: 'E_SERVER_STOPPING' });
    }
    // On the file: the transaction whole, and nothing of those refused.
    const again = new SQLite(file, { readonly: true });
    try {
      expect(again.prepare('SELECT id FROM items ORDER BY id').all()).toEqual([
        { id: 1 },
        { id: 2 },
      ]);
    } finally {
      again.close();
    }
    // A caller after the close is refused too.
    await expect(
      db.insertInto('items').values({ id: 6, name: 'late' }).execute(),
    ).rejects.toThrow();
  });
});
