import type { SecretBox } from './secret-box.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './store.js';

/** Which store to open: the embedded SQLite file, or a PostgreSQL database. */
export type StoreSettings =
  { driver: 'sqlite'; file: string } | { driver: 'postgres'; url: string };

/**
 * Opens the store the configuration names, sealing secrets at rest with
 * `secrets`. Each adapter's library is loaded only when that adapter is chosen.
 *
 * @example
 *   const store = await openStore({ driver: 'sqlite', file: '/var/lib/ferry/ferry.db' }, box);
 *   await store.migrate();
 */
export function openStore(settings: StoreSettings, secrets: SecretBox): Promise<Store> {
  switch (settings.driver) {
    case 'sqlite':
      return Promise.resolve(SqliteStore.open(settings.file, { secrets }));
    case 'postgres':
      // Loaded only when chosen: an embedded server never loads pg.
      return import('./postgres/postgres-store.js').then(({ PostgresStore }) =>
        PostgresStore.open(settings.url, { secrets }),
      );
  }
}
