import type { Migration, MigrationProvider } from 'kysely';
import { migrations0001To0008 } from './migrations/migrations-0001-to-0008.js';
import { migrations0009To0018 } from './migrations/migrations-0009-to-0018.js';
import { migrations0019To0028 } from './migrations/migrations-0019-to-0028.js';
import type { StoreDialect } from './store-dialect.js';

/**
 * The schema's history, in order. Written with Kysely's schema builder only, so
 * every dialect runs the same migrations. Never edit one that has shipped: add one.
 * They are kept in `migrations/`, a file per group of versions, and put together
 * here in version order.
 */
function migrations(dialect: Pick<StoreDialect, 'serialType'>): Record<string, Migration> {
  // An increasing integer key, for ordering (the outbox delivers in order).
  const serial = dialect.serialType;
  return {
    ...migrations0001To0008(serial),
    ...migrations0009To0018(serial),
    ...migrations0019To0028(serial),
  };
}

/** Hands Kysely's Migrator the migrations above, for one dialect. */
export function migrationProvider(dialect: Pick<StoreDialect, 'serialType'>): MigrationProvider {
  return { getMigrations: () => Promise.resolve(migrations(dialect)) };
}
