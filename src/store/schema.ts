import type { Generated } from 'kysely';

/**
 * The tables, as Kysely sees them. Times are ISO-8601 text and booleans are 0/1
 * integers, so the same schema holds on SQLite and PostgreSQL.
 */
export interface Database {
  apps: AppsTable;
  bundles: BundlesTable;
  tokens: TokensTable;
  outbox: OutboxTable;
  environments: EnvironmentsTable;
  hosts: HostsTable;
  installs: InstallsTable;
  install_snapshots: InstallSnapshotsTable;
  install_steps: InstallStepsTable;
  step_output: StepOutputTable;
  variables: VariablesTable;
  verdicts: VerdictsTable;
  deployments: DeploymentsTable;
  deploy_locks: DeployLocksTable;
  desired_releases: DesiredReleasesTable;
  store_settings: StoreSettingsTable;
  history_events: HistoryEventsTable;
  host_facts: HostFactsTable;
  events: EventsTable;
  notes: NotesTable;
  note_actions: NoteActionsTable;
  sessions: SessionsTable;
  audit_log: AuditLogTable;
  service_health: ServiceHealthTable;
  alerts: AlertsTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
}

/** A service's present health on a host (migration 0025): one row per host and app. */
export interface ServiceHealthTable {
  host_id: string;
  app: string;
  version: number | null;
  state: string;
  since: string;
  answer: string | null;
  restarts: number;
  reported_at: string;
  /** The agent's time of the report kept (migration 0028); null for a row from before. */
  agent_at: string | null;
}

/** An alert (migration 0025); `open_key` is its key while open, null once cleared. */
export interface AlertsTable {
  id: Generated<number>;
  kind: string;
  alert_key: string;
  open_key: string | null;
  env: string | null;
  app: string | null;
  host_id: string | null;
  host: string | null;
  version: number | null;
  deployment_id: string | null;
  message: string;
  started_at: string;
  cleared_at: string | null;
  cleared_because: string | null;
}

/**
 * One request that changed something or tried to (migration 0020). `token_*`
 * are null when no token counted; `target_json` holds the parts of the
 * target the route's declaration names, never a body or a secret.
 */
export interface AuditLogTable {
  seq: Generated<number>;
  at: string;
  token_id: string | null;
  token_name: string | null;
  token_role: string | null;
  /** `token` or `session`: how the token was presented. */
  via: string | null;
  address: string;
  action: string;
  method: string;
  path: string;
  target_json: string;
  /** How many requests the entry stands for (migration 0023): 1 but for coalesced refusals. */
  count: number;
  status: number;
  outcome: string;
}

/**
 * A note on one bundle (`app`, `version`) or on a label (`label`); the other
 * pair is null. `fixed_by_*` name the bundle that fixed it, if any.
 */
export interface NotesTable {
  id: Generated<number>;
  app: string | null;
  version: number | null;
  label: string | null;
  section: string;
  impact: string;
  text: string;
  fixed_by_app: string | null;
  fixed_by_version: number | null;
  /** The key of the report finding the note confirms (migration 0018), or null. */
  finding: string | null;
  created_at: string;
  created_by: string;
  updated_at: string;
  updated_by: string;
}

/** A thing one person must do about a note; open while `done_at` is null. */
export interface NoteActionsTable {
  id: Generated<number>;
  note_id: number;
  owner: string;
  text: string;
  created_at: string;
  created_by: string;
  done_at: string | null;
  done_by: string | null;
}

/** A host's facts history: one row per sample the server took of its reports. */
export interface HostFactsTable {
  seq: Generated<number>;
  host_id: string;
  at: string;
  facts_json: string;
}

/** The live event stream, in the order recorded: `seq` is the id clients resume after. */
export interface EventsTable {
  seq: Generated<number>;
  at: string;
  kind: string;
  app: string | null;
  env: string | null;
  deployment_id: string | null;
  host_id: string | null;
  data: string;
}

/** Changes that no other table tells: cancels, variables, hosts, tokens (see `HistoryEvent`). */
export interface HistoryEventsTable {
  id: string;
  at: string;
  by: string;
  type: string;
  app: string | null;
  version: number | null;
  env: string | null;
  detail: string;
  deployment_id: string | null;
}

/** Facts about the store itself, by name: `secret_key_id`, the key its secrets are sealed with. */
export interface StoreSettingsTable {
  name: string;
  value: string;
}

/** A bundle rolled out to one environment; the lease says which replica drives it. */
export interface DeploymentsTable {
  id: string;
  app: string;
  version: number;
  env: string;
  kind: string;
  state: string;
  /** `rollout`, or `reverting` while the hosts already done go back. */
  phase: Generated<string>;
  strategy_json: string;
  from_version: number | null;
  created_by: string;
  /** For an automatic deployment, the person whose push or verdict set it off. */
  triggered_by: Generated<string | null>;
  /** 1 when it takes today's variables for every host (`--refresh-vars`), not a landed release's own. */
  refresh_vars: Generated<number>;
  /**
   * 1 when whoever started it said yes to going back across migrations (`--yes`);
   * 0 for an automatic one: nobody was there to say so.
   */
  migrations_confirmed: Generated<number>;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  error: string | null;
  lease_owner: string | null;
  lease_expires_at: string | null;
  /** The batch whose hosts the bake watches (or watched last); null before any bake (migration 0027). */
  bake_batch: Generated<number | null>;
  /** When that bake ends (or ended). */
  bake_until: Generated<string | null>;
  /** Each watched host's restart count when the bake began, by host id. */
  bake_restarts_json: Generated<string | null>;
}

/** The one active deployment of an app in an environment. */
export interface DeployLocksTable {
  app: string;
  env: string;
  deployment_id: string;
  since: string;
}

/** The release an app should run in an environment. */
export interface DesiredReleasesTable {
  env: string;
  app: string;
  version: number;
  deployment_id: string;
  updated_at: string;
}

export interface EnvironmentsTable {
  name: string;
  position: number;
  created_at: string;
}

export interface HostsTable {
  id: string;
  name: string;
  env: string;
  roles_json: string;
  vars_json: string;
  enrolled_at: string;
  last_seen_at: string | null;
  connected: number;
  facts_json: string | null;
  revoked_at: string | null;
  removed_at: string | null;
}

export interface InstallsTable {
  id: string;
  host_id: string;
  app: string;
  version: number;
  state: string;
  rolled_back: number;
  error: string | null;
  created_by: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  deployment_id: string | null;
  purpose: Generated<string>;
  batch: number | null;
  from_version: number | null;
  /** When the job went to the transport; null while the install is only planned. */
  sent_at: string | null;
}

export interface InstallStepsTable {
  install_id: string;
  step: string;
  position: number;
  state: string;
  exit_code: number | null;
  duration_ms: number | null;
  error: string | null;
  started_at: string;
  finished_at: string | null;
}

export interface StepOutputTable {
  install_id: string;
  step: string;
  stream: string;
  seq: number;
  text: string;
}

export interface OutboxTable {
  seq: Generated<number>;
  host_id: string;
  message_id: string;
  body: string;
  created_at: string;
}

export interface AppsTable {
  name: string;
  last_version: number;
  created_at: string;
}

export interface BundlesTable {
  app: string;
  version: number;
  sha256: string;
  size: number;
  label: string | null;
  git_commit: string | null;
  git_dirty: number | null;
  file_count: number;
  created_at: string;
  pushed_at: string;
  pushed_by: string;
  manifest_json: string;
  /** The server's signature (base64) over the bundle (migration 0021); null until it signs it. */
  server_signature: string | null;
  /** The public key (32 bytes in base64) of `server_signature`. */
  server_public_key: string | null;
  /** Developers' signatures: a JSON array of `{publicKey, signature}`, or null for none. */
  developer_signatures_json: string | null;
}

export interface TokensTable {
  id: string;
  name: string;
  role: string;
  env: string | null;
  token_hash: string;
  created_at: string;
  created_by: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  host_id: string | null;
  /** A host credential's end; null for people's tokens (and hosts enrolled before credentials expired). */
  expires_at: string | null;
  /** A host credential not yet confirmed: the id of the one it replaces, retired on confirmation. */
  replaces: string | null;
  /** A host credential its rotation replaced (migration 0024): its successor's id. */
  superseded_by: string | null;
}

/**
 * A dashboard session: the sha256 of its id (the id itself is only in the
 * browser's cookie), the token it speaks as, its CSRF token and its expiry.
 */
export interface SessionsTable {
  id_hash: string;
  token_id: string;
  csrf_token: string;
  created_at: string;
  expires_at: string;
}

/** A variable set with `ferry vars set`; `scope_value` is '' for the global scope. */
export interface VariablesTable {
  name: string;
  scope_kind: string;
  scope_value: string;
  /** The app it is for; '' for every app. */
  app: Generated<string>;
  value: string;
  secret: number;
  updated_at: string;
  updated_by: string;
}

/** One change of a bundle's verdict; the row with the highest `seq` is the verdict now. */
export interface VerdictsTable {
  app: string;
  version: number;
  seq: number;
  verdict: string;
  note: string | null;
  by: string;
  at: string;
}

/** What a deployment froze for one install: `body` is the JSON of its variables, sealed. */
export interface InstallSnapshotsTable {
  install_id: string;
  body: string;
  created_at: string;
}

/** A webhook (migration 0026); `secret` sealed, `kinds` a JSON array. */
export interface WebhooksTable {
  id: string;
  url: string;
  env: string | null;
  kinds: string;
  format: string;
  secret: string;
  cursor: number | string | bigint;
  created_at: string;
  created_by: string;
}

/** One notification of a webhook and how its delivery went (migration 0026). */
export interface WebhookDeliveriesTable {
  id: string;
  webhook_id: string;
  dedup_key: string;
  seq: number | string | bigint;
  kind: string;
  body: string;
  status: string;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  next_attempt_at: string;
  lease_holder: string | null;
  lease_until: string | null;
  created_at: string;
  updated_at: string;
}
