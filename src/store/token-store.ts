import type { Role, TokenRecord } from '../protocol/api.js';

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

/**
 * The store's API tokens: people's, and each host's own. Only the hash of a
 * token's secret is kept.
 *
 * @example
 *   const token = await store.tokens.findActive(sha256(presented));
 *   if (token) await store.tokens.touch(token.id, new Date().toISOString());
 */
export interface TokenStore {
  create(token: NewToken): Promise<TokenRecord>;
  /**
   * Creates the token only when there is no token at all, atomically: of
   * replicas starting together on a new store, one makes the first token.
   */
  createFirst(token: NewToken): Promise<TokenRecord | undefined>;
  /** A token that is not revoked, by the hash of its secret. */
  findActive(tokenHash: string): Promise<StoredToken | undefined>;
  list(): Promise<TokenRecord[]>;
  /** Marks a token revoked; false when no such token exists. */
  revoke(id: string): Promise<boolean>;
  touch(id: string, at: string): Promise<void>;
}
