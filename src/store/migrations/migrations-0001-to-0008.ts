import { type Kysely, type Migration } from 'kysely';
import type { StoreDialect } from '../store-dialect.js';

/**
 * Migrations 0001 to 0008, the first schema: bundles and tokens, the outbox,
 * hosts and their installs, variables, verdicts, deployments, store settings.
 * `serial` is the dialect's increasing integer key (see `../migrations.ts`,
 * which puts these in the one ordered list).
 */
export function migrations0001To0008(
  serial: StoreDialect['serialType'],
): Record<string, Migration> {
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
    '0003_hosts_and_installs': {
      async up(db: Kysely<unknown>) {
        // An agent's own token speaks for one host.
        await db.schema.alterTable('tokens').addColumn('host_id', 'text').execute();
        // Environments, in lifecycle order; the default three exist from the start.
        await db.schema
          .createTable('environments')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('position', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        const now = new Date().toISOString();
        await (
          db as Kysely<{ environments: { name: string; position: number; created_at: string } }>
        )
          .insertInto('environments')
          .values(
            ['dev', 'qa', 'prod'].map((name, position) => ({ name, position, created_at: now })),
          )
          .execute();
        await db.schema
          .createTable('hosts')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull().unique())
          .addColumn('env', 'text', (c) => c.notNull())
          .addColumn('roles_json', 'text', (c) => c.notNull())
          .addColumn('vars_json', 'text', (c) => c.notNull())
          .addColumn('enrolled_at', 'text', (c) => c.notNull())
          .addColumn('last_seen_at', 'text')
          .addColumn('connected', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('facts_json', 'text')
          .execute();
        await db.schema
          .createTable('installs')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('host_id', 'text', (c) => c.notNull().references('hosts.id'))
          .addColumn('app', 'text', (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('rolled_back', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('error', 'text')
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('started_at', 'text')
          .addColumn('finished_at', 'text')
          .execute();
        await db.schema
          .createTable('install_steps')
          .addColumn('install_id', 'text', (c) => c.notNull().references('installs.id'))
          .addColumn('step', 'text', (c) => c.notNull())
          .addColumn('position', 'integer', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('exit_code', 'integer')
          .addColumn('duration_ms', 'integer')
          .addColumn('error', 'text')
          .addColumn('started_at', 'text', (c) => c.notNull())
          .addColumn('finished_at', 'text')
          .addPrimaryKeyConstraint('install_steps_pk', ['install_id', 'step'])
          .execute();
        // Step output in the pieces it arrived in; (stream, seq) makes a repeated
        // delivery of a piece harmless.
        await db.schema
          .createTable('step_output')
          .addColumn('install_id', 'text', (c) => c.notNull())
          .addColumn('step', 'text', (c) => c.notNull())
          .addColumn('stream', 'text', (c) => c.notNull())
          .addColumn('seq', 'integer', (c) => c.notNull())
          .addColumn('text', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('step_output_pk', ['install_id', 'step', 'stream', 'seq'])
          .execute();
      },
    },
    '0004_variables': {
      async up(db: Kysely<unknown>) {
        // Variables for `${NAME}` in manifests, one row per name and scope: the
        // scope is global (scope_value ''), an environment, a role or a host name.
        await db.schema
          .createTable('variables')
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('scope_kind', 'text', (c) => c.notNull())
          .addColumn('scope_value', 'text', (c) => c.notNull())
          .addColumn('value', 'text', (c) => c.notNull())
          .addColumn('secret', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('updated_by', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('variables_pk', ['name', 'scope_kind', 'scope_value'])
          .execute();
      },
    },
    '0005_verdicts': {
      async up(db: Kysely<unknown>) {
        // QA's verdicts, one row per change so the history is kept; `seq` counts the
        // changes of one bundle, so "newest" never depends on two clocks agreeing.
        await db.schema
          .createTable('verdicts')
          .addColumn('app', 'text', (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('seq', 'integer', (c) => c.notNull())
          .addColumn('verdict', 'text', (c) => c.notNull())
          .addColumn('note', 'text')
          .addColumn('by', 'text', (c) => c.notNull())
          .addColumn('at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('verdicts_pk', ['app', 'version', 'seq'])
          .execute();
      },
    },
    '0006_deployments': {
      async up(db: Kysely<unknown>) {
        // A bundle rolled out to one environment, driven by whichever server
        // replica holds its lease (lease_owner until lease_expires_at).
        await db.schema
          .createTable('deployments')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('app', 'text', (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('env', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          // Reverting: the hosts already done are being put back.
          .addColumn('phase', 'text', (c) => c.notNull().defaultTo('rollout'))
          .addColumn('strategy_json', 'text', (c) => c.notNull())
          .addColumn('from_version', 'integer')
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('started_at', 'text')
          .addColumn('finished_at', 'text')
          .addColumn('error', 'text')
          .addColumn('lease_owner', 'text')
          .addColumn('lease_expires_at', 'text')
          .execute();
        await db.schema
          .createIndex('deployments_app_env')
          .on('deployments')
          .columns(['app', 'env', 'created_at'])
          .execute();
        await db.schema
          .createIndex('deployments_state')
          .on('deployments')
          .column('state')
          .execute();
        // One active deployment per app and environment: the row is the lock.
        await db.schema
          .createTable('deploy_locks')
          .addColumn('app', 'text', (c) => c.notNull())
          .addColumn('env', 'text', (c) => c.notNull())
          .addColumn('deployment_id', 'text', (c) => c.notNull())
          .addColumn('since', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('deploy_locks_pk', ['app', 'env'])
          .execute();
        // Per environment and app, the release its hosts should run.
        await db.schema
          .createTable('desired_releases')
          .addColumn('env', 'text', (c) => c.notNull())
          .addColumn('app', 'text', (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('deployment_id', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('desired_releases_pk', ['env', 'app'])
          .execute();
        await db.schema.alterTable('installs').addColumn('deployment_id', 'text').execute();
        await db.schema
          .alterTable('installs')
          .addColumn('purpose', 'text', (c) => c.notNull().defaultTo('install'))
          .execute();
        await db.schema.alterTable('installs').addColumn('batch', 'integer').execute();
        await db.schema.alterTable('installs').addColumn('from_version', 'integer').execute();
        await db.schema.alterTable('installs').addColumn('sent_at', 'text').execute();
        await db.schema
          .createIndex('installs_deployment')
          .on('installs')
          .column('deployment_id')
          .execute();
        await db.schema
          .createIndex('installs_host_app')
          .on('installs')
          .columns(['host_id', 'app', 'created_at'])
          .execute();
      },
    },
    '0007_deployment_trigger': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('deployments').addColumn('triggered_by', 'text').execute();
      },
    },
    '0008_store_settings': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('store_settings')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .execute();
      },
    },
  };
}
