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
}
