import type { Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CompiledOnce } from '../src/store/kysely/compiled-query.js';
import type { Database } from '../src/store/schema.js';
import { STORE_DIALECTS, type StoreUnderTest } from './helpers/store-dialects.js';

for (const dialect of STORE_DIALECTS) {
  describe.skipIf(!dialect.available)(`a query compiled once: ${dialect.name}`, () => {
    let under: StoreUnderTest;
    let db: Kysely<Database>;

    beforeEach(async () => {
      under = await dialect.open();
      db = under.kysely();
      for (const [n, env] of ['a', 'b', 'c'].entries()) {
        await db
          .insertInto('events')
          .values({
            at: new Date().toISOString(),
            kind: 'host.connected',
            app: 'cart',
            env,
            deployment_id: null,
            host_id: `host-${n}`,
            data: '{}',
          })
          .execute();
      }
    });

    afterEach(async () => {
      await under.close();
    });

    it('is built once, on the database and its transactions alike, and runs with each call’s values', async () => {
      let builds = 0;
      const byHost = new CompiledOnce<
        Database,
        { hostId: string; env: string | null },
        { env: string | null }
      >((q, slot) => {
        builds++;
        return q
          .selectFrom('events')
          .select('env')
          .where('host_id', '=', slot('hostId'))
          .where((eb) => eb.or([eb('env', '=', slot('env')), eb('kind', 'in', ['none', 'other'])]));
      });
      expect((await byHost.execute(db, { hostId: 'host-1', env: 'b' })).rows).toEqual([
        { env: 'b' },
      ]);
      expect((await byHost.execute(db, { hostId: 'host-1', env: 'a' })).rows).toEqual([]);
      const inTransaction = await db
        .transaction()
        .execute(async (trx) => (await byHost.execute(trx, { hostId: 'host-2', env: 'c' })).rows);
      expect(inTransaction).toEqual([{ env: 'c' }]);
      expect(builds).toBe(1);
    });

    it('tells how many rows a write changed, with nulls and constants kept in their places', async () => {
      const moveEnv = new CompiledOnce<Database, { from: string; to: string | null }, never>(
        (q, slot) =>
          q
            .updateTable('events')
            .set({ env: slot('to'), app: null })
            .where('env', '=', slot('from'))
            .where('kind', 'in', ['host.connected']),
      );
      const moved = await moveEnv.execute(db, { from: 'a', to: null });
      expect(Number(moved.numAffectedRows)).toBe(1);
      expect(Number((await moveEnv.execute(db, { from: 'a', to: 'x' })).numAffectedRows)).toBe(0);
      const rows = await db
        .selectFrom('events')
        .select(['host_id', 'env'])
        .orderBy('host_id')
        .execute();
      expect(rows).toEqual([
        { host_id: 'host-0', env: null },
        { host_id: 'host-1', env: 'b' },
        { host_id: 'host-2', env: 'c' },
      ]);
    });
  });
}
