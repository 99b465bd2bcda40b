import { type Migration, sql } from 'kysely';
import type { StoreDialect } from '../store-dialect.js';

/**
 * Migrations 0019 to 0028: dashboard sessions, the audit log, bundle
 * signatures, host credentials, continuous health and alerts, webhooks, the
 * bake. `serial` is the dialect's increasing integer key (see
 * `../migrations.ts`, which puts these in the one ordered list; a new
 * migration goes at the end of this file, or of a new one after it).
 */
export function migrations0019To0028(
  serial: StoreDialect['serialType'],
): Record<string, Migration> {
  return {
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
