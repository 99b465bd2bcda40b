import { type Dialect, Kysely, Migrator } from 'kysely';
import { migrationProvider } from '../migrations.js';
import type { Database } from '../schema.js';
import type { SecretBox } from '../secret-box.js';
import type { StoreDialect } from '../store-dialect.js';
import type { Store } from '../store.js';
import { ClosingDialect } from './closing-dialect.js';
import { KyselyAlertStore } from './kysely-alert-store.js';
import { KyselyAuditStore } from './kysely-audit-store.js';
import { KyselyBundleStore } from './kysely-bundle-store.js';
import { KyselyDeploymentStore } from './kysely-deployment-store.js';
import { KyselyEnvironmentStore } from './kysely-environment-store.js';
import { KyselyEventStore } from './kysely-event-store.js';
import { KyselyHealthStore } from './kysely-health-store.js';
import { KyselyHistoryStore } from './kysely-history-store.js';
import { KyselyHostStore } from './kysely-host-store.js';
import { KyselyInstallStore } from './kysely-install-store.js';
import { KyselyNoteStore } from './kysely-note-store.js';
import { KyselyOutboxStore } from './kysely-outbox-store.js';
import { sealStoredSecrets } from './kysely-secret-sealing.js';
import { KyselySessionStore } from './kysely-session-store.js';
import { KyselyTokenStore } from './kysely-token-store.js';
import { KyselyVariableStore } from './kysely-variable-store.js';
import { KyselyVerdictStore } from './kysely-verdict-store.js';
import { KyselyWebhookStore } from './kysely-webhook-store.js';

/**
 * The `Store` over any Kysely dialect: one store per aggregate, sharing one
 * Kysely instance. The adapters in `sqlite/` and `postgres/` give their Kysely
 * dialect and their `StoreDialect`, what their database does its own way; the
 * queries are written once, to run on both. Once closed, every query is
 * refused with `E_SERVER_STOPPING` (see `ClosingDialect`). With a `SecretBox` (the
 * server always gives one), secret variables, queued jobs and configuration
 * snapshots, and webhooks' secrets are sealed at rest; `migrate` seals what an older Ferry left in
 * plaintext.
 */
export class KyselyStore implements Store {
  readonly bundles: KyselyBundleStore;
  readonly tokens: KyselyTokenStore;
  readonly sessions: KyselySessionStore;
  readonly outbox: KyselyOutboxStore;
  readonly environments: KyselyEnvironmentStore;
  readonly hosts: KyselyHostStore;
  readonly installs: KyselyInstallStore;
  readonly variables: KyselyVariableStore;
  readonly verdicts: KyselyVerdictStore;
  readonly notes: KyselyNoteStore;
  readonly deployments: KyselyDeploymentStore;
  readonly history: KyselyHistoryStore;
  readonly events: KyselyEventStore;
  readonly audit: KyselyAuditStore;
  readonly health: KyselyHealthStore;
  readonly alerts: KyselyAlertStore;
  readonly webhooks: KyselyWebhookStore;

  protected readonly db: Kysely<Database>;
  private readonly closing: ClosingDialect;

  constructor(
    kyselyDialect: Dialect,
    private readonly dialect: StoreDialect,
    private readonly box?: SecretBox,
  ) {
    this.closing = new ClosingDialect(kyselyDialect);
    const db = new Kysely<Database>({ dialect: this.closing });
    this.db = db;
    this.bundles = new KyselyBundleStore(db, dialect);
    this.tokens = new KyselyTokenStore(db, dialect);
    this.sessions = new KyselySessionStore(db);
    this.outbox = new KyselyOutboxStore(db, box);
    this.environments = new KyselyEnvironmentStore(db);
    this.hosts = new KyselyHostStore(db, dialect);
    this.installs = new KyselyInstallStore(db, box);
    this.variables = new KyselyVariableStore(db, box);
    this.verdicts = new KyselyVerdictStore(db, dialect);
    this.notes = new KyselyNoteStore(db);
    this.deployments = new KyselyDeploymentStore(db, this.installs);
    this.history = new KyselyHistoryStore(db);
    this.events = new KyselyEventStore(db, dialect);
    this.audit = new KyselyAuditStore(db);
    this.health = new KyselyHealthStore(db);
    this.alerts = new KyselyAlertStore(db, dialect);
    this.webhooks = new KyselyWebhookStore(db, box);
  }

  migrate(): Promise<void> {
    return this.dialect.migrating(async () => {
      const migrator = new Migrator({ db: this.db, provider: migrationProvider(this.dialect) });
      const { error, results } = await migrator.migrateToLatest();
      if (error) {
        const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
        throw new Error(`database migration ${failed} failed`, { cause: error });
      }
      if (this.box) await sealStoredSecrets(this.db, this.box);
    });
  }

  /** Lets whoever has a connection finish, then closes the database; every query after is refused. */
  async close(): Promise<void> {
    await this.closing.close();
  }
}
