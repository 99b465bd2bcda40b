import type { Kysely, Migration, MigrationProvider } from 'kysely';

/** The SQL dialects the store runs on; a few column types differ between them. */
export type StoreDialect = 'sqlite' | 'postgres';

/**
 * The schema's history, in order. Written with Kysely's schema builder only, so
 * every dialect runs the same migrations. Never edit one that has shipped: add one.
 */
function migrations(dialect: StoreDialect): Record<string, Migration> {
  // An increasing integer key, for ordering (the outbox delivers in order).
  const serial = dialect === 'sqlite' ? 'integer' : 'bigserial';
  return {
    '0001_bundles_and_tokens': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('apps')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('last_version', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('bundles')
          .addColumn('app', 'text', (c) => c.notNull().references('apps.name'))
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('sha256', 'text', (c) => c.notNull())
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('label', 'text')
          .addColumn('git_commit', 'text')
          .addColumn('git_dirty', 'integer')
          .addColumn('file_count', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('pushed_at', 'text', (c) => c.notNull())
          .addColumn('pushed_by', 'text', (c) => c.notNull())
          .addColumn('manifest_json', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('bundles_pk', ['app', 'version'])
          .addUniqueConstraint('bundles_app_sha256', ['app', 'sha256'])
          .execute();
        await db.schema
          .createTable('tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('env', 'text')
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('created_by', 'text')
          .addColumn('last_used_at', 'text')
          .addColumn('revoked_at', 'text')
          .execute();
      },
    },
    '0002_outbox': {
      async up(db: Kysely<unknown>) {
        // Jobs waiting for their host's acknowledgement: the built-in transport's
        // durable outbox. A row goes when the agent acknowledges it.
        await db.schema
          .createTable('outbox')
          .addColumn('seq', serial, (c) => c.primaryKey())
          .addColumn('host_id', 'text', (c) => c.notNull())
          .addColumn('message_id', 'text', (c) => c.notNull())
          .addColumn('body', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addUniqueConstraint('outbox_host_message', ['host_id', 'message_id'])
          .execute();
      },
    },
  };
}

/** Hands Kysely's Migrator the migrations above, for one dialect. */
export function migrationProvider(dialect: StoreDialect): MigrationProvider {
  return { getMigrations: () => Promise.resolve(migrations(dialect)) };
}
