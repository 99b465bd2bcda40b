import type { Kysely } from 'kysely';
import type { EnvironmentStore } from '../environment-store.js';
import type { Database } from '../schema.js';

/** `EnvironmentStore` over Kysely, written once for every dialect. */
export class KyselyEnvironmentStore implements EnvironmentStore {
  constructor(private readonly db: Kysely<Database>) {}

  async list(): Promise<string[]> {
    const rows = await this.db
      .selectFrom('environments')
      .select('name')
      .orderBy('position')
      .execute();
    return rows.map((r) => r.name);
  }

  async sync(names: string[]): Promise<{ kept: string[] }> {
    return this.db.transaction().execute(async (trx) => {
      const now = new Date().toISOString();
      const stored = (await trx.selectFrom('environments').select('name').execute()).map(
        (r) => r.name,
      );
      for (const [position, name] of names.entries()) {
        if (stored.includes(name)) {
          await trx
            .updateTable('environments')
            .set({ position })
            .where('name', '=', name)
            .execute();
        } else {
          await trx
            .insertInto('environments')
            .values({ name, position, created_at: now })
            .execute();
        }
      }
      const kept: string[] = [];
      for (const name of stored.filter((n) => !names.includes(n))) {
        const host = await trx
          .selectFrom('hosts')
          .select('id')
          .where('env', '=', name)
          .executeTakeFirst();
        if (host) {
          // Still has hosts: kept, after the configured ones, until they go.
          await trx
            .updateTable('environments')
            .set({ position: 1000 + kept.length })
            .where('name', '=', name)
            .execute();
          kept.push(name);
        } else {
          await trx.deleteFrom('environments').where('name', '=', name).execute();
        }
      }
      return { kept };
    });
  }
}
