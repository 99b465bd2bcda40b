import SQLite from 'better-sqlite3';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Kysely, sql } from 'kysely';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SqliteKyselyDialect } from './sqlite-kysely-dialect.js';

interface Db {
  items: { id: number; name: string };
}

let dir: string | undefined;
const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const each of open.splice(0).reverse()) await each.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * A database file in WAL mode as the store opens it, never checkpointed by
 * itself (so the WAL's frames count the pages every commit wrote), and a
 * second connection that reads only what was committed.
 */
async function opened(): Promise<{
  db: Kysely<Db>;
  database: SQLite.Database;
  reader: SQLite.Database;
  walFrames: () => number;
  stored: () => number[];
}> {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-group-commit-'));
  const file = path.join(dir, 'ferry.db');
  const database = new SQLite(file);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('wal_autocheckpoint = 0');
  database.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)');
  database.pragma('wal_checkpoint(TRUNCATE)');
  const db = new Kysely<Db>({ dialect: new SqliteKyselyDialect(database) });
  open.push({ close: () => db.destroy() });
  const reader = new SQLite(file, { readonly: true });
  open.push(reader);
  return {
    db,
    database,
    reader,
    walFrames: () => (database.pragma('wal_checkpoint(PASSIVE)') as { log: number }[])[0]!.log,
    stored: () =>
      reader
        .prepare('SELECT id FROM items ORDER BY id')
        .all()
        .map((row) => (row as { id: number }).id),
  };
}

const insert = (db: Kysely<Db>, id: number) =>
  db
    .insertInto('items')
    .values({ id, name: `n${id}` })
    .execute();

describe("the SQLite dialect's writes queued together", () => {
  it('share one commit: the WAL gets a few frames for 200 writes, not one or more each', async () => {
    const { db, walFrames, stored } = await opened();
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        i % 2 === 0 ? insert(db, i) : db.transaction().execute((trx) => insert(trx, i)),
      ),
    );
    expect(stored()).toEqual(Array.from({ length: 200 }, (_, i) => i));
    // Each commit writes every page it changed to the WAL: 200 commits made
    // 200 frames or more. The first caller, alone when it came, commits alone.
    expect(walFrames()).toBeLessThan(20);
  });

  it('answer each caller only once its write is committed: another connection reads it then', async () => {
    const { db, reader } = await opened();
    const row = reader.prepare('SELECT count(*) AS n FROM items WHERE id = ?');
    const seen = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        (i % 3 === 0 ? db.transaction().execute((trx) => insert(trx, i)) : insert(db, i)).then(
          () => (row.get(i) as { n: number }).n,
        ),
      ),
    );
    expect(seen).toEqual(Array.from({ length: 100 }, () => 1));
  });

  it("fail only the caller whose statement or transaction failed; the others' writes are committed", async () => {
    const { db, stored } = await opened();
    await insert(db, 7);
    const outcomes = await Promise.all(
      Array.from({ length: 60 }, (_, i) => {
        const write =
          i === 7
            ? insert(db, 7) // a duplicate key: the statement fails
            : i === 20
              ? db.transaction().execute(async (trx) => {
                  await insert(trx, 20);
                  await insert(trx, 1020);
                  throw new Error('changed its mind');
                })
              : i === 30
                ? db.transaction().execute(async (trx) => {
                    await insert(trx, 1030);
                    await insert(trx, 7); // fails inside the transaction, after a write
                  })
                : insert(db, i);
        return write.then(
          () => 'written',
          () => 'failed',
        );
      }),
    );
    expect(outcomes.flatMap((o, i) => (o === 'failed' ? [i] : []))).toEqual([7, 20, 30]);
    expect(stored()).toEqual(
      Array.from({ length: 60 }, (_, i) => i).filter((i) => i !== 20 && i !== 30),
    );
  });

  it('fail every caller of the group when the transaction itself is lost, and the next callers write as before', async () => {
    const { db, stored } = await opened();
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, (_, i) => {
        // The fifth ends the transaction under the others (as SQLite does itself on a full disk).
        const write = i === 5 ? sql`ROLLBACK`.execute(db) : insert(db, i);
        return write.then(
          () => 'written',
          () => 'failed',
        );
      }),
    );
    // Those that shared the lost transaction with the fifth are told so, and
    // nothing of theirs is on disk; every caller told "written" is.
    expect(outcomes.slice(1, 6)).toEqual(['failed', 'failed', 'failed', 'failed', 'failed']);
    const stillThere = stored();
    expect(stillThere).toEqual(outcomes.flatMap((o, i) => (o === 'written' ? [i] : [])));
    await Promise.all([insert(db, 100), insert(db, 101), insert(db, 102)]);
    expect(stored()).toEqual([...stillThere, 100, 101, 102]);
  });

  it('fail the caller whose group could not begin, and leave the connection to the others', async () => {
    const { db, database, stored } = await opened();
    // The first BEGIN of a group fails (a fault injected where SQLite prepares it).
    const prepare = database.prepare.bind(database);
    let failed = false;
    vi.spyOn(database, 'prepare').mockImplementation((source: string) => {
      if (source === 'BEGIN' && !failed) {
        failed = true;
        throw new Error('injected: BEGIN failed');
      }
      return prepare(source);
    });
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        insert(db, i).then(
          () => 'written',
          () => 'failed',
        ),
      ),
    );
    expect(failed).toBe(true);
    expect(outcomes.filter((o) => o === 'failed')).toHaveLength(1);
    expect(stored()).toEqual(outcomes.flatMap((o, i) => (o === 'written' ? [i] : [])));
    await insert(db, 100);
    expect(stored()).toContain(100);
  });
});

/** Makes the statement `source` fail, as on an I/O error, the first `times` runs. */
function failing(database: SQLite.Database, fail: Record<string, number>): void {
  const prepare = database.prepare.bind(database);
  vi.spyOn(database, 'prepare').mockImplementation((source: string) => {
    const real = prepare(source);
    if (!(source in fail)) return real;
    return new Proxy(real, {
      get(target, property) {
        if (property === 'run')
          return (...args: unknown[]) => {
            if ((fail[source] ?? 0) > 0) {
              fail[source] = (fail[source] ?? 0) - 1;
              throw Object.assign(new Error(`injected: ${source} failed`), {
                code: 'SQLITE_IOERR',
              });
            }
            return (target.run as (...a: unknown[]) => unknown)(...args);
          };
        const value: unknown = Reflect.get(target, property);
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      },
    });
  });
}

const outcome = (write: Promise<unknown>): Promise<string> =>
  write.then(
    () => 'written',
    (err: Error) => `failed: ${err.message}`,
  );

describe("the SQLite dialect's group, when its own statements fail (faults injected)", () => {
  it('a COMMIT that fails, and the ROLLBACK after it too: every caller is answered, and the connection goes on', async () => {
    const { db, database, stored } = await opened();
    failing(database, { COMMIT: 1, ROLLBACK: 1 });
    const outcomes = await Promise.all(Array.from({ length: 5 }, (_, i) => outcome(insert(db, i))));
    // Every caller answered (none left waiting); those of the group that
    // failed to commit are told so, and nothing of theirs is stored.
    expect(outcomes).toContain('failed: injected: COMMIT failed');
    const written = outcomes.flatMap((o, i) => (o === 'written' ? [i] : []));
    expect(stored()).toEqual(written);
    // The next caller: the transaction left open is ended first, and it writes.
    expect(await outcome(insert(db, 100))).toBe('written');
    expect(stored()).toEqual([...written, 100]);
  });

  it("a caller's ROLLBACK TO that fails loses the group: nothing of it is committed", async () => {
    const { db, database, stored } = await opened();
    failing(database, { 'ROLLBACK TO ferry_caller': 1 });
    const outcomes = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        outcome(
          i === 2
            ? db.transaction().execute(async (trx) => {
                await insert(trx, 2);
                await insert(trx, 1002);
                throw new Error('changed its mind');
              })
            : insert(db, i),
        ),
      ),
    );
    expect(outcomes[2]).toMatch(/^failed/);
    // What was told written is what is stored, and nothing of the caller that failed.
    expect(stored()).toEqual(outcomes.flatMap((o, i) => (o === 'written' ? [i] : [])));
    expect(stored()).not.toContain(1002);
  });
});

describe("the SQLite dialect's lost group, answering its callers", () => {
  it("gives each caller its own error, with the code kept and the group's error as its cause", async () => {
    const { db, database } = await opened();
    failing(database, { COMMIT: 1 });
    const errors = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        insert(db, i).then(
          () => undefined,
          (err: unknown) => err as Error & { code?: unknown },
        ),
      ),
    );
    const failed = errors.filter((err) => err !== undefined);
    expect(failed.length).toBeGreaterThan(1);
    // One caller's handler annotating its error (as a route does) is not seen by the others.
    failed[0]!.message += ' (seen by the first)';
    expect(new Set(failed).size).toBe(failed.length);
    for (const err of failed.slice(1)) {
      expect(err.message).toBe('injected: COMMIT failed');
      expect(err.code).toBe('SQLITE_IOERR');
      expect(err.cause).toBe(failed[0]!.cause);
    }
    expect(failed[0]!.cause).toBeInstanceOf(Error);
  });
});
