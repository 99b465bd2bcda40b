import { type Migration, sql } from 'kysely';
import type { StoreDialect } from '../store-dialect.js';

/**
 * Migrations 0009 to 0018: hosts cut off, install snapshots, variables per
 * app, history events, host facts, the event stream, release notes. `serial`
 * is the dialect's increasing integer key (see `../migrations.ts`, which puts
 * these in the one ordered list).
 */
export function migrations0009To0018(
  serial: StoreDialect['serialType'],
): Record<string, Migration> {
  return {
    '0009_host_cut_off': {
      async up(db) {
        // Set when the host's own token is revoked (or the host removed): it gets nothing more.
        await db.schema.alterTable('hosts').addColumn('revoked_at', 'text').execute();
        // Set by `ferry hosts remove`: the host leaves the lists, and its name is free again.
        await db.schema.alterTable('hosts').addColumn('removed_at', 'text').execute();
      },
    },
    '0010_install_snapshots': {
      async up(db) {
        // What a deployment resolved for each host's install (its variables, secrets
        // sealed): going back to a release starts it with the configuration it had.
        await db.schema
          .createTable('install_snapshots')
          .addColumn('install_id', 'text', (c) => c.primaryKey())
          .addColumn('body', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0011_variables_per_app': {
      async up(db) {
        // A variable may be for one app ('' = every app): the app joins the key,
        // so the table is made again (SQLite cannot change a primary key in place).
        await db.schema
          .createTable('variables_by_app')
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('scope_kind', 'text', (c) => c.notNull())
          .addColumn('scope_value', 'text', (c) => c.notNull())
          .addColumn('app', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('value', 'text', (c) => c.notNull())
          .addColumn('secret', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('updated_by', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('variables_by_app_pk', [
            'name',
            'scope_kind',
            'scope_value',
            'app',
          ])
          .execute();
        await sql`insert into variables_by_app (name, scope_kind, scope_value, app, value, secret, updated_at, updated_by)
          select name, scope_kind, scope_value, '', value, secret, updated_at, updated_by from variables`.execute(
          db,
        );
        await db.schema.dropTable('variables').execute();
        await db.schema.alterTable('variables_by_app').renameTo('variables').execute();
      },
    },
    '0012_history_events': {
      async up(db) {
        // What `ferry history` tells that no other table holds: cancels,
        // variable changes, host enrolments and removals, tokens made and revoked.
        await db.schema
          .createTable('history_events')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('by', 'text', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('app', 'text')
          .addColumn('version', 'integer')
          .addColumn('env', 'text')
          .addColumn('detail', 'text', (c) => c.notNull())
          .addColumn('deployment_id', 'text')
          .execute();
        await db.schema
          .createIndex('history_events_app_at')
          .on('history_events')
          .columns(['app', 'at'])
          .execute();
      },
    },
    '0013_deployment_refresh_vars': {
      async up(db) {
        // How a deployment resolves its variables (`--refresh-vars`), kept so that
        // one queued behind another resolves them, when it starts, as it was asked to.
        await db.schema
          .alterTable('deployments')
          .addColumn('refresh_vars', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
      },
    },
    '0014_host_facts_history': {
      async up(db) {
        // Samples of each host's facts, taken when they changed (or now and then,
        // for load and free space), pruned to the configured retention.
        await db.schema
          .createTable('host_facts')
          .addColumn('seq', serial, (c) => c.primaryKey())
          .addColumn('host_id', 'text', (c) => c.notNull())
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('facts_json', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('host_facts_host_at')
          .on('host_facts')
          .columns(['host_id', 'at'])
          .execute();
      },
    },
    '0015_events': {
      async up(db) {
        // The live event stream (`GET /api/v1/events`): one sequence for every
        // replica, so a client resumes after an id wherever it reconnects.
        await db.schema
          .createTable('events')
          .addColumn('seq', serial, (c) => c.primaryKey())
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('app', 'text')
          .addColumn('env', 'text')
          .addColumn('deployment_id', 'text')
          .addColumn('host_id', 'text')
          .addColumn('data', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('events_at').on('events').column('at').execute();
        // A client following one deployment (or host, or app) reads its events from the first.
        for (const column of ['deployment_id', 'host_id', 'app'] as const) {
          await db.schema
            .createIndex(`events_${column}`)
            .on('events')
            .columns([column, 'seq'])
            .execute();
        }
      },
    },
    '0016_deployment_migrations_confirmed': {
      async up(db) {
        // Whether going back across migrations was confirmed (`--yes`), kept so
        // that one queued behind another is checked again when it starts: the
        // one ahead of it may migrate meanwhile.
        await db.schema
          .alterTable('deployments')
          .addColumn('migrations_confirmed', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
      },
    },
    '0017_notes': {
      async up(db) {
        // Notes people attach to a bundle or a label, for its release report,
        // and the actions on them. Ids are the database's, for people to type.
        await db.schema
          .createTable('notes')
          .addColumn('id', serial, (c) => c.primaryKey())
          .addColumn('app', 'text')
          .addColumn('version', 'integer')
          .addColumn('label', 'text')
          .addColumn('section', 'text', (c) => c.notNull())
          .addColumn('impact', 'text', (c) => c.notNull())
          .addColumn('text', 'text', (c) => c.notNull())
          .addColumn('fixed_by_app', 'text')
          .addColumn('fixed_by_version', 'integer')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('updated_by', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('notes_app_version')
          .on('notes')
          .columns(['app', 'version'])
          .execute();
        await db.schema.createIndex('notes_label').on('notes').column('label').execute();
        await db.schema
          .createTable('note_actions')
          .addColumn('id', serial, (c) => c.primaryKey())
          .addColumn('note_id', 'bigint', (c) => c.notNull().references('notes.id'))
          .addColumn('owner', 'text', (c) => c.notNull())
          .addColumn('text', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('done_at', 'text')
          .addColumn('done_by', 'text')
          .execute();
        await db.schema
          .createIndex('note_actions_note')
          .on('note_actions')
          .column('note_id')
          .execute();
        await db.schema
          .createIndex('note_actions_owner')
          .on('note_actions')
          .columns(['owner', 'done_at'])
          .execute();
      },
    },
    '0018_note_finding': {
      async up(db) {
        // A note made from a finding of the release report names its key: the
        // report shows the finding as confirmed, with the note's impact.
        await db.schema.alterTable('notes').addColumn('finding', 'text').execute();
      },
    },
  };
}
