import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { SecretBox } from '../src/store/secret-box.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { Store, StoredVariable } from '../src/store/store.js';
import { failure } from './helpers/failure.js';
import { createTestDatabase } from './helpers/pg-database.js';
import { pgUrl } from './helpers/services.js';

/**
 * Secret values at rest, on every dialect against a real database: what the
 * store writes is sealed (read back with SQL, the value is not there), what it
 * reads is the value; plaintext from an older Ferry is sealed by `migrate`; a
 * store opened with another key says so instead of decrypting garbage.
 */

const SECRET = 'sk-9d41-never-at-rest';

/** A database of one dialect: stores over it with a key (or none), and its rows read with SQL. */
interface Database {
  open(box?: SecretBox): Promise<Store>;
  /** Every value of a column of a table, as SQL reads it. */
  column(
    table: 'variables' | 'outbox' | 'install_snapshots',
    column: 'value' | 'body',
  ): Promise<string[]>;
  drop(): Promise<void>;
}

const postgresUrl = pgUrl();

const DIALECTS: { name: string; available: boolean; make(): Promise<Database> }[] = [
  {
    name: 'sqlite',
    available: true,
    async make() {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-secrets-'));
      const file = path.join(dir, 'ferry.db');
      return {
        open: (box) => Promise.resolve(SqliteStore.open(file, box ? { secrets: box } : {})),
        column(table, column) {
          const db = new SQLite(file, { readonly: true });
          try {
            return Promise.resolve(
              (db.prepare(`select ${column} as v from ${table}`).all() as { v: string }[]).map(
                (r) => r.v,
              ),
            );
          } finally {
            db.close();
          }
        },
        drop: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'postgres',
    available: postgresUrl !== undefined,
    async make() {
      const database = await createTestDatabase(postgresUrl!);
      return {
        open: (box) => PostgresStore.open(database.url, box ? { secrets: box } : {}),
        async column(table, column) {
          const client = new pg.Client({ connectionString: database.url });
          await client.connect();
          try {
            const result = await client.query<{ v: string }>(`select ${column} as v from ${table}`);
            return result.rows.map((r) => r.v);
          } finally {
            await client.end();
          }
        },
        drop: () => database.drop(),
      };
    },
  },
];

function secretVariable(value = SECRET): StoredVariable {
  return {
    name: 'DB_PASSWORD',
    scope: { kind: 'env', value: 'qa' },
    value,
    secret: true,
    updatedAt: '2026-12-01T00:00:00.000Z',
    updatedBy: 'admin',
  };
}

for (const dialect of DIALECTS) {
  describe.skipIf(!dialect.available)(`secrets at rest: ${dialect.name}`, () => {
    let database: Database;
    const opened: Store[] = [];
    const open = async (box?: SecretBox) => {
      const store = await database.open(box);
      opened.push(store);
      return store;
    };
    const key = randomBytes(32);
    const box = new SecretBox(key);

    beforeEach(async () => {
      database = await dialect.make();
    });
    afterEach(async () => {
      for (const store of opened.splice(0)) await store.close();
      await database.drop();
    });

    it('seals secret values and queued jobs; reads them back; leaves plain variables plain', async () => {
      const store = await open(box);
      await store.migrate();
      await store.variables.set(secretVariable());
      await store.variables.set({ ...secretVariable('plain-value'), name: 'LEVEL', secret: false });
      await store.hosts.create({ id: 'h1', name: 'qa-1', env: 'qa', roles: ['web'], vars: {} });
      await store.outbox.enqueue('h1', {
        id: 'job-1',
        body: JSON.stringify({ vars: { DB_PASSWORD: SECRET } }),
      });

      const values = await database.column('variables', 'value');
      expect(values).toContain('plain-value');
      expect(values.some((v) => v.includes(SECRET))).toBe(false);
      expect((await database.column('outbox', 'body')).some((b) => b.includes(SECRET))).toBe(false);

      expect((await store.variables.get('DB_PASSWORD', { kind: 'env', value: 'qa' }))?.value).toBe(
        SECRET,
      );
      expect((await store.variables.list()).map((v) => v.value).sort()).toEqual(
        ['plain-value', SECRET].sort(),
      );
      const [job] = await store.outbox.pending('h1');
      expect(JSON.parse(job!.body)).toEqual({ vars: { DB_PASSWORD: SECRET } });
    });

    it('seals on migrate what an older Ferry wrote in plaintext, and it still reads the same', async () => {
      const older = await open();
      await older.migrate();
      await older.variables.set(secretVariable());
      await older.hosts.create({ id: 'h1', name: 'qa-1', env: 'qa', roles: ['web'], vars: {} });
      await older.outbox.enqueue('h1', { id: 'job-1', body: `{"secret":"${SECRET}"}` });
      expect(await database.column('variables', 'value')).toEqual([SECRET]);

      const store = await open(box);
      await store.migrate();
      expect((await database.column('variables', 'value')).some((v) => v.includes(SECRET))).toBe(
        false,
      );
      expect((await database.column('outbox', 'body')).some((b) => b.includes(SECRET))).toBe(false);
      expect((await store.variables.get('DB_PASSWORD', { kind: 'env', value: 'qa' }))?.value).toBe(
        SECRET,
      );
      expect((await store.outbox.pending('h1'))[0]?.body).toBe(`{"secret":"${SECRET}"}`);
      // Once more (a restart, another replica): nothing changes.
      await store.migrate();
      expect((await store.variables.get('DB_PASSWORD', { kind: 'env', value: 'qa' }))?.value).toBe(
        SECRET,
      );
    });

    it("seals an install's configuration snapshot, reads it back, and seals an older plaintext one on migrate", async () => {
      const older = await open();
      await older.migrate();
      await older.installs.saveSnapshots([
        {
          installId: 'ins_old',
          snapshot: { vars: { DB_PASSWORD: SECRET }, secrets: ['DB_PASSWORD'] },
        },
      ]);
      expect((await database.column('install_snapshots', 'body'))[0]).toContain(SECRET);

      const store = await open(box);
      await store.migrate();
      await store.installs.saveSnapshots([
        {
          installId: 'ins_new',
          snapshot: { vars: { DB_PASSWORD: SECRET, LEVEL: 'info' }, secrets: ['DB_PASSWORD'] },
        },
      ]);
      const bodies = await database.column('install_snapshots', 'body');
      expect(bodies).toHaveLength(2);
      expect(bodies.some((b) => b.includes(SECRET))).toBe(false);
      expect(await store.installs.getSnapshot('ins_old')).toEqual({
        vars: { DB_PASSWORD: SECRET },
        secrets: ['DB_PASSWORD'],
      });
      expect((await store.installs.getSnapshot('ins_new'))?.vars).toEqual({
        DB_PASSWORD: SECRET,
        LEVEL: 'info',
      });
      // Without the key, a sealed snapshot is refused, never read as garbage.
      const keyless = await open();
      expect((await failure(keyless.installs.getSnapshot('ins_new'))).code).toBe(
        'E_SECRET_KEY_MISMATCH',
      );
    });

    it('a replica started with another key fails on start, even before any secret is set', async () => {
      await (await open(box)).migrate();
      const other = await open(new SecretBox(randomBytes(32)));
      const error = await failure(other.migrate());
      expect(error.code).toBe('E_SECRET_KEY_MISMATCH');
      expect(error.details).toMatchObject({ storeKeyId: box.keyId });
      // The same key again (a restart, a replica given it) is fine.
      await (await open(new SecretBox(key))).migrate();
    });

    it('a store with another key, or none, refuses clearly instead of decrypting garbage', async () => {
      const store = await open(box);
      await store.migrate();
      await store.variables.set(secretVariable());

      const other = await open(new SecretBox(randomBytes(32)));
      const onStart = await failure(other.migrate());
      expect(onStart.code).toBe('E_SECRET_KEY_MISMATCH');
      expect(onStart.details).toMatchObject({ storeKeyId: box.keyId });
      const onRead = await failure(
        other.variables.get('DB_PASSWORD', { kind: 'env', value: 'qa' }),
      );
      expect(onRead.code).toBe('E_SECRET_KEY_MISMATCH');
      const keyless = await open();
      expect((await failure(keyless.variables.list())).code).toBe('E_SECRET_KEY_MISMATCH');
    });
  });
}

describe('SecretBox', () => {
  it('binds a sealed value to its row: moved to another, it does not open', () => {
    const box = new SecretBox(randomBytes(32));
    const sealed = box.seal(SECRET, 'variable:A:env:qa');
    expect(box.open(sealed, 'variable:A:env:qa')).toBe(SECRET);
    expect(() => box.open(sealed, 'variable:A:env:prod')).toThrow(
      expect.objectContaining({ code: 'E_SECRET_KEY_MISMATCH' }),
    );
    // Sealing twice gives two different texts (a fresh IV each time).
    expect(box.seal(SECRET, 'x')).not.toBe(box.seal(SECRET, 'x'));
  });

  it('never holds the key in what it writes', () => {
    const key = randomBytes(32);
    const sealed = new SecretBox(key).seal(SECRET, 'x');
    expect(sealed).not.toContain(key.toString('base64url'));
    expect(sealed).not.toContain(key.toString('hex'));
  });
});
