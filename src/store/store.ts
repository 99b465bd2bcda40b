import type { AlertStore } from './alert-store.js';
import type { AuditStore } from './audit-store.js';
import type { BundleStore } from './bundle-store.js';
import type { DeploymentStore } from './deployment-store.js';
import type { EnvironmentStore } from './environment-store.js';
import type { EventStore } from './event-store.js';
import type { HealthStore } from './health-store.js';
import type { HistoryStore } from './history-store.js';
import type { HostStore } from './host-store.js';
import type { InstallStore } from './install-store.js';
import type { NoteStore } from './note-store.js';
import type { OutboxStore } from './outbox-store.js';
import type { SessionStore } from './session-store.js';
import type { TokenStore } from './token-store.js';
import type { VariableStore } from './variable-store.js';
import type { VerdictStore } from './verdict-store.js';
import type { WebhookStore } from './webhook-store.js';

export type { AlertKind, AlertStore, NewAlert, StoredAlert } from './alert-store.js';
export type { AuditListQuery, AuditStore, NewAuditEntry } from './audit-store.js';
export type {
  BundleSigner,
  BundleStore,
  NewBundle,
  RecordedBundle,
  StoredSignature,
} from './bundle-store.js';
export type {
  DeployLock,
  DeploymentPatch,
  DeploymentStore,
  DeploymentUpdateOptions,
  DesiredRelease,
  NewDeployment,
  StoredDeployment,
} from './deployment-store.js';
export type { EnvironmentStore } from './environment-store.js';
export type { EventStore } from './event-store.js';
export type {
  HealthChange,
  HealthStore,
  ServiceHealth,
  ServiceHealthReport,
  ServiceHealthState,
} from './health-store.js';
export type { HistoryEvent, HistoryStore } from './history-store.js';
export type { FactsRetention, HostStore, NewHost } from './host-store.js';
export type {
  ConfigSnapshot,
  InstallChange,
  InstallHead,
  InstallOutcome,
  InstallPatch,
  InstallQuery,
  InstallSnapshot,
  InstallStore,
  NewInstall,
  StepReport,
  StoredInstall,
} from './install-store.js';
export type { NewAction, NewNote, NotePatch, NoteQuery, NoteStore } from './note-store.js';
export type { OutboxMessage, OutboxStore } from './outbox-store.js';
export type { ActiveSession, NewSession, SessionStore } from './session-store.js';
export type { NewToken, StoredToken, TokenStore } from './token-store.js';
export type { StoredVariable, VariableScope, VariableStore } from './variable-store.js';
export type { VerdictCondition, VerdictStore } from './verdict-store.js';
export type {
  DeliveryOutcome,
  DeliveryStatus,
  NewDelivery,
  NotificationKind,
  StoredDelivery,
  StoredWebhook,
  WebhookStore,
} from './webhook-store.js';

/**
 * The server's metadata store: one small store per aggregate, each written
 * once over Kysely (`kysely/`), with what SQLite and PostgreSQL do their own
 * way behind `StoreDialect`. Domain code depends on these interfaces only;
 * both adapters pass one contract suite. Each aggregate's record types live
 * in its own file and are re-exported here.
 *
 * @example
 *   const store = await openStore(settings, box);
 *   await store.migrate();
 *   const bundle = await store.bundles.get('cart', 12);
 *   const installs = await store.installs.list({ deploymentId });
 */
export interface Store {
  /** Brings the schema up to date; safe to call on every start. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  readonly bundles: BundleStore;
  readonly tokens: TokenStore;
  readonly sessions: SessionStore;
  readonly outbox: OutboxStore;
  readonly environments: EnvironmentStore;
  readonly hosts: HostStore;
  readonly deployments: DeploymentStore;
  readonly installs: InstallStore;
  readonly variables: VariableStore;
  readonly verdicts: VerdictStore;
  readonly notes: NoteStore;
  readonly history: HistoryStore;
  readonly events: EventStore;
  readonly audit: AuditStore;
  readonly health: HealthStore;
  readonly alerts: AlertStore;
  readonly webhooks: WebhookStore;
}
