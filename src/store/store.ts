import type {
  AppSummary,
  BundleDetail,
  BundleRecord,
  HostRecord,
  InstallLogs,
  InstallRecord,
  Role,
  TokenRecord,
  VerdictRecord,
  VerdictState,
} from '../protocol/api.js';

/** What the server knows of a bundle before it has a version. */
export interface NewBundle {
  app: string;
  sha256: string;
  size: number;
  label: string | null;
  commit: string | null;
  dirty: boolean | null;
  fileCount: number;
  createdAt: string;
  pushedBy: string;
  /** The app's resolved manifest section, as the bundle carries it. */
  manifest: Record<string, unknown>;
}

/** The result of recording a push: the bundle, and whether it is new. */
export interface RecordedBundle {
  bundle: BundleRecord;
  /** False when the app already had a bundle with this sha256; that one is returned. */
  created: boolean;
}

/** A token as the store keeps it: only the hash of its secret. */
export interface StoredToken extends TokenRecord {
  tokenHash: string;
}

export interface NewToken {
  id: string;
  name: string;
  role: Role;
  env: string | null;
  tokenHash: string;
  createdBy: string | null;
  hostId?: string | null;
}

export interface NewHost {
  id: string;
  name: string;
  env: string;
  roles: string[];
  vars: Record<string, string>;
}

export interface NewInstall {
  id: string;
  hostId: string;
  app: string;
  version: number;
  createdBy: string;
}

/** What an agent reported of one step, as the store records it. */
export type StepReport =
  | { kind: 'started'; step: string; at: string }
  | { kind: 'output'; step: string; stream: 'stdout' | 'stderr'; seq: number; text: string }
  | {
      kind: 'finished';
      step: string;
      ok: boolean;
      exitCode: number | null;
      durationMs: number;
      error: string | null;
      at: string;
    };

/**
 * The server's metadata store. Domain code depends on this interface only; the
 * adapters (SQLite, PostgreSQL) pass one contract suite.
 */
export interface Store {
  /** Brings the schema up to date; safe to call on every start. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  /**
   * Records a pushed bundle: in one transaction, returns the app's bundle with the
   * same sha256 if there is one, or else assigns `version = last + 1`, records the
   * bundle, and calls `beforeCommit` (which moves the file into place) before
   * committing — if it throws, nothing is recorded.
   */
  recordBundle(bundle: NewBundle, beforeCommit: () => Promise<void>): Promise<RecordedBundle>;
  getBundle(app: string, version: number): Promise<BundleDetail | undefined>;
  /** An app's bundles, newest first. */
  listBundles(app: string, options?: { limit?: number }): Promise<BundleRecord[]>;
  hasApp(app: string): Promise<boolean>;
  listApps(): Promise<AppSummary[]>;

  createToken(token: NewToken): Promise<TokenRecord>;
  /** A token that is not revoked, by the hash of its secret. */
  findActiveToken(tokenHash: string): Promise<StoredToken | undefined>;
  listTokens(): Promise<TokenRecord[]>;
  countTokens(): Promise<number>;
  /** Marks a token revoked; false when no such token exists. */
  revokeToken(id: string): Promise<boolean>;
  touchToken(id: string, at: string): Promise<void>;

  /** Adds a message to a host's outbox; adding the same message id again changes nothing. */
  enqueueOutbox(hostId: string, message: OutboxMessage): Promise<void>;
  /** A host's messages not yet acknowledged, oldest first. */
  pendingOutbox(hostId: string): Promise<OutboxMessage[]>;
  /** Removes an acknowledged message. */
  ackOutbox(hostId: string, messageId: string): Promise<void>;

  /** Environment names in lifecycle order (`dev`, `qa`, `prod` by default). */
  listEnvironments(): Promise<string[]>;
  /**
   * Makes the stored environments those named, in this order. One no longer
   * named is removed unless hosts are enrolled in it; those are returned.
   */
  syncEnvironments(names: string[]): Promise<{ kept: string[] }>;
  createHost(host: NewHost): Promise<HostRecord>;
  getHost(id: string): Promise<HostRecord | undefined>;
  findHostByName(name: string): Promise<HostRecord | undefined>;
  listHosts(options?: { env?: string }): Promise<HostRecord[]>;
  setHostPresence(id: string, connected: boolean, at: string): Promise<void>;
  /** Marks every host disconnected: on start, no connection survives from before. */
  resetHostPresence(): Promise<void>;
  setHostFacts(id: string, facts: Record<string, unknown>, at: string): Promise<void>;

  createInstall(install: NewInstall): Promise<void>;
  getInstall(id: string): Promise<InstallRecord | undefined>;
  /** Records one step report; a report delivered twice is recorded once. */
  recordStep(installId: string, report: StepReport): Promise<void>;
  finishInstall(
    installId: string,
    outcome: { ok: boolean; rolledBack: boolean; error: string | null; at: string },
  ): Promise<void>;
  installLogs(installId: string): Promise<InstallLogs | undefined>;

  /** Sets a variable in its scope, replacing the one there; `created` is false when it replaced one. */
  setVariable(variable: StoredVariable): Promise<{ created: boolean }>;
  getVariable(name: string, scope: VariableScope): Promise<StoredVariable | undefined>;
  /** Removes a variable from its scope; false when there was none. */
  unsetVariable(name: string, scope: VariableScope): Promise<boolean>;
  /** Variables by name then scope: all of them, or those in any of `scopes`. */
  listVariables(options?: { scopes?: VariableScope[] }): Promise<StoredVariable[]>;

  /**
   * Adds a change to a bundle's verdict history and returns the verdict it had
   * just before, read in the same transaction.
   */
  recordVerdict(verdict: VerdictRecord): Promise<{ previous: VerdictState }>;
  /** A bundle's verdict changes, newest first. */
  listVerdicts(app: string, version: number): Promise<VerdictRecord[]>;
  /** A bundle's verdict now: its latest change, or `pending`. */
  verdictOf(app: string, version: number): Promise<VerdictState>;
}

/** Where a variable applies: everywhere, or one environment, role or host (by name). */
export type VariableScope = { kind: 'global' } | { kind: 'env' | 'role' | 'host'; value: string };

/** A variable as the store keeps it, secret values included: never send this to a client. */
export interface StoredVariable {
  name: string;
  scope: VariableScope;
  value: string;
  secret: boolean;
  updatedAt: string;
  updatedBy: string;
}

/** A message waiting in a host's outbox: its id and its serialized body. */
export interface OutboxMessage {
  id: string;
  body: string;
}
