import { type Kysely, type Migration, type MigrationProvider, sql } from 'kysely';
import type { StoreDialect } from './store-dialect.js';

/**
 * The schema's history, in order. Written with Kysely's schema builder only, so
 * every dialect runs the same migrations. Never edit one that has shipped: add one.
 */
function migrations(dialect: Pick<StoreDialect, 'serialType'>): Record<string, Migration> {
  // An increasing integer key, for ordering (the outbox delivers in order).
  const serial = dialect.serialType;
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
    '0019_sessions': {
      async up(db) {
        // The dashboard's sessions: only the sha256 of a session's id is kept.
        // A session counts while it has not expired and its token is not revoked.
        // token_id has no ON DELETE CASCADE, on purpose: tokens are only ever
        // revoked (the row stays), never deleted, so nothing would cascade. A
        // change that deletes tokens must end their sessions first, or add it.
        await db.schema
          .createTable('sessions')
          .addColumn('id_hash', 'text', (c) => c.primaryKey())
          .addColumn('token_id', 'text', (c) => c.notNull().references('tokens.id'))
          .addColumn('csrf_token', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('sessions_expires_at')
          .on('sessions')
          .column('expires_at')
          .execute();
        await db.schema.createIndex('sessions_token').on('sessions').column('token_id').execute();
      },
    },
    '0020_audit_log': {
      async up(db) {
        // Every request that changed something or tried to: who, from where,
        // what, and the outcome. Pruned by time (`audit.retentionDays`), and
        // read by time and by token.
        await db.schema
          .createTable('audit_log')
          .addColumn('seq', serial, (c) => c.primaryKey())
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('token_id', 'text')
          .addColumn('token_name', 'text')
          .addColumn('token_role', 'text')
          .addColumn('via', 'text')
          .addColumn('address', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('method', 'text', (c) => c.notNull())
          .addColumn('path', 'text', (c) => c.notNull())
          .addColumn('target_json', 'text', (c) => c.notNull())
          .addColumn('status', 'integer', (c) => c.notNull())
          .addColumn('outcome', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('audit_log_at')
          .on('audit_log')
          .columns(['at', 'seq'])
          .execute();
        await db.schema
          .createIndex('audit_log_token_name')
          .on('audit_log')
          .columns(['token_name', 'at'])
          .execute();
        await db.schema
          .createIndex('audit_log_token_id')
          .on('audit_log')
          .columns(['token_id', 'at'])
          .execute();
      },
    },
    '0021_bundle_signatures': {
      async up(db) {
        // The server's ed25519 signature over each bundle, made when it accepts the
        // push, and the signatures developers sent with it. A bundle recorded before
        // has none: the server signs those on its next start.
        await db.schema.alterTable('bundles').addColumn('server_signature', 'text').execute();
        await db.schema.alterTable('bundles').addColumn('server_public_key', 'text').execute();
        await db.schema
          .alterTable('bundles')
          .addColumn('developer_signatures_json', 'text')
          .execute();
      },
    },
    '0022_host_credentials': {
      async up(db) {
        // A host's own token is its credential: it expires, and is rotated by
        // the agent before then. A new one names the one it replaces until the
        // agent confirms it; the old one is then retired. Tokens made before
        // have no expiry: their agent rotates at its next start.
        await db.schema.alterTable('tokens').addColumn('expires_at', 'text').execute();
        await db.schema.alterTable('tokens').addColumn('replaces', 'text').execute();
      },
    },
    '0023_audit_count': {
      async up(db) {
        // Refusals of requests without a valid credential are coalesced: one
        // entry per address, action and outcome a minute at most, standing
        // for `count` of them. Every entry before stood for one.
        await db.schema
          .alterTable('audit_log')
          .addColumn('count', 'integer', (c) => c.notNull().defaultTo(1))
          .execute();
      },
    },
    '0024_token_superseded_by': {
      async up(db) {
        // A host credential its rotation replaced names its successor, so that
        // the token list can leave it out (a row per rotation otherwise). Those
        // replaced before: a revoked host token with a newer one of its host
        // after it (a host's tokens are made at enrolment and by rotation).
        await db.schema.alterTable('tokens').addColumn('superseded_by', 'text').execute();
        await sql`update tokens set superseded_by = (
            select newer.id from tokens newer
            where newer.host_id = tokens.host_id and newer.created_at > tokens.created_at
            order by newer.created_at, newer.id limit 1)
          where host_id is not null and revoked_at is not null`.execute(db);
      },
    },
    '0025_service_health_and_alerts': {
      async up(db) {
        // Each service's present health on each host (continuous health).
        await db.schema
          .createTable('service_health')
          .addColumn('host_id', 'text', (c) => c.notNull())
          .addColumn('app', 'text', (c) => c.notNull())
          .addColumn('version', 'integer')
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('since', 'text', (c) => c.notNull())
          .addColumn('answer', 'text')
          .addColumn('restarts', 'integer', (c) => c.notNull())
          .addColumn('reported_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('service_health_pk', ['host_id', 'app'])
          .execute();
        // Alerts. `open_key` is the alert's key while it is open and null once
        // cleared: unique, so that one condition holds one open alert (both
        // databases let many rows hold null in a unique column).
        await db.schema
          .createTable('alerts')
          .addColumn('id', serial, (c) => c.primaryKey())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('alert_key', 'text', (c) => c.notNull())
          .addColumn('open_key', 'text', (c) => c.unique())
          .addColumn('env', 'text')
          .addColumn('app', 'text')
          .addColumn('host_id', 'text')
          .addColumn('host', 'text')
          .addColumn('version', 'integer')
          .addColumn('deployment_id', 'text')
          .addColumn('message', 'text', (c) => c.notNull())
          .addColumn('started_at', 'text', (c) => c.notNull())
          .addColumn('cleared_at', 'text')
          .addColumn('cleared_because', 'text')
          .execute();
        await db.schema.createIndex('alerts_started').on('alerts').column('started_at').execute();
      },
    },
    '0026_webhooks': {
      async up(db) {
        // Webhooks: where notifications go. `cursor` is the id of the last event
        // this webhook's notifications were derived from; `secret` is sealed.
        await db.schema
          .createTable('webhooks')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('url', 'text', (c) => c.notNull())
          .addColumn('env', 'text')
          .addColumn('kinds', 'text', (c) => c.notNull())
          .addColumn('format', 'text', (c) => c.notNull())
          .addColumn('secret', 'text', (c) => c.notNull())
          .addColumn('cursor', 'bigint', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .execute();
        // One row per notification of a webhook. `dedup_key` is unique per
        // webhook, so that one notification is recorded once, whichever replica
        // derives it and however often; `seq` (the event's id) orders them.
        await db.schema
          .createTable('webhook_deliveries')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('webhook_id', 'text', (c) => c.notNull())
          .addColumn('dedup_key', 'text', (c) => c.notNull())
          .addColumn('seq', 'bigint', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('body', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull())
          .addColumn('last_status', 'integer')
          .addColumn('last_error', 'text')
          .addColumn('next_attempt_at', 'text', (c) => c.notNull())
          .addColumn('lease_holder', 'text')
          .addColumn('lease_until', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addUniqueConstraint('webhook_deliveries_dedup', ['webhook_id', 'dedup_key'])
          .execute();
        await db.schema
          .createIndex('webhook_deliveries_due')
          .on('webhook_deliveries')
          .columns(['webhook_id', 'status', 'seq'])
          .execute();
      },
    },
    '0027_deployment_bake': {
      async up(db) {
        // The bake of a deployment (watching its hosts' health after a batch):
        // which batch it watches, until when, and each host's restart count
        // when it began, so that a replica taking over goes on baking until the
        // same end and counts restarts from the same start.
        await db.schema.alterTable('deployments').addColumn('bake_batch', 'integer').execute();
        await db.schema.alterTable('deployments').addColumn('bake_until', 'text').execute();
        await db.schema.alterTable('deployments').addColumn('bake_restarts_json', 'text').execute();
      },
    },
    '0028_health_order_and_alert_lookup': {
      async up(db) {
        // The agent's own time of the health report kept, so that an older
        // report delivered late (after a reconnect) cannot overwrite a newer one.
        await db.schema.alterTable('service_health').addColumn('agent_at', 'text').execute();
        // A host's alerts (open or not) are looked up by host: its fact alerts
        // on a facts report, all of them when it is removed.
        await db.schema
          .createIndex('alerts_host_open')
          .on('alerts')
          .columns(['host_id', 'open_key'])
          .execute();
        // Cleared alerts are pruned by age (`alerts.keepDays`).
        await db.schema.createIndex('alerts_cleared').on('alerts').column('cleared_at').execute();
      },
    },
  };
}

/** Hands Kysely's Migrator the migrations above, for one dialect. */
export function migrationProvider(dialect: Pick<StoreDialect, 'serialType'>): MigrationProvider {
  return { getMigrations: () => Promise.resolve(migrations(dialect)) };
}
