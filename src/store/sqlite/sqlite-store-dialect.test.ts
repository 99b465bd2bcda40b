import SQLite from 'better-sqlite3';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Kysely } from 'kysely';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { FerryEvent } from '../../protocol/events.js';
import { KyselyEventStore } from '../kysely/kysely-event-store.js';
import type { Database } from '../schema.js';
import { SqliteKyselyDialect } from './sqlite-kysely-dialect.js';
import { SqliteStore } from './sqlite-store.js';
import { SqliteStoreDialect } from './sqlite-store-dialect.js';

let dir: string | undefined;
const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const db of open.splice(0)) await db.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the SQLite dialect's event append", () => {
  it('is the insert alone, committed as it returns: no BEGIN and COMMIT around it', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-append-'));
    const file = path.join(dir, 'ferry.db');
    const migrated = SqliteStore.open(file);
    await migrated.migrate();
    await migrated.close();
    const database = new SQLite(file);
    const prepare = vi.spyOn(database, 'prepare');
    const db = new Kysely<Database>({ dialect: new SqliteKyselyDialect(database) });
    open.push({ close: () => db.destroy() });
    const events = new KyselyEventStore(db, new SqliteStoreDialect(database));
    const appended: FerryEvent[] = [];
    for (const env of ['qa', 'prod']) {
      appended.push(
        await events.append({
          kind: 'host.connected',
          app: null,
          env,
          deploymentId: null,
          hostId: 'h1',
          data: { host: 'web-1' },
        }),
      );
    }
    const statements = prepare.mock.calls.map(([source]) => String(source).split(' ')[0]);
    expect(statements).toEqual(['insert']);
    // Committed: another connection reads both, in order.
    const reader = new SQLite(file, { readonly: true });
    open.push(reader);
    const rows = reader.prepare('select seq, env from events order by seq').all();
    expect(rows).toEqual(appended.map((e) => ({ seq: Number(e.id), env: e.env })));
  });
});
