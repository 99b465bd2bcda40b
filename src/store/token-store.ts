import type { Role, TokenRecord } from '../protocol/api.js';

/** A token as the store keeps it: only the hash of its secret. */
export interface StoredToken extends Omit<TokenRecord, 'superseded'> {
  tokenHash: string;
  /** A host credential not yet confirmed: the id of the one it replaces. */
  replaces: string | null;
}

export interface NewToken {
  id: string;
  name: string;
  role: Role;
  env: string | null;
  tokenHash: string;
  createdBy: string | null;
  hostId?: string | null;
  expiresAt?: string | null;
}

/** A host credential made to replace another (`TokenStore.rotate`). */
export interface RotatedToken extends NewToken {
  hostId: string;
  expiresAt: string;
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
  /**
   * A token that is not revoked, by the hash of its secret; a host's own token
   * only while its host is not cut off or removed.
   */
  findActive(tokenHash: string): Promise<StoredToken | undefined>;
  /**
   * Tokens, oldest first, each with its expiry; without `all`, not the host
   * credentials their rotation replaced (`superseded`): a host that rotates
   * every few weeks would add a row each time.
   */
  list(options?: { all?: boolean }): Promise<TokenRecord[]>;
  /** One token by id, revoked or not. */
  get(id: string): Promise<TokenRecord | undefined>;
  /** Marks a token revoked; false when no such token exists. */
  revoke(id: string): Promise<boolean>;
  touch(id: string, at: string): Promise<void>;
  /**
   * Makes `next` the successor of the host credential `oldId`, atomically:
   * `next` names `oldId` as the one it replaces, `oldId` now expires at
   * `oldExpiresAt` at the latest (the grace it keeps until `next` is
   * confirmed), and any earlier successor of `oldId` not yet confirmed (one
   * its agent never got to keep) is revoked. False when `oldId` is no longer
   * active (revoked meanwhile), or its host is cut off, removed or unknown:
   * nothing is made. The host's row is locked first, as `HostStore.remove`
   * and `cutOff` lock it: a removal at the same moment revokes the successor
   * too, or finds the rotation refused.
   */
  rotate(oldId: string, next: RotatedToken, oldExpiresAt: string): Promise<boolean>;
  /**
   * Confirms a host credential made by `rotate`: the one it replaces is
   * revoked, and it no longer names it. Idempotent.
   */
  confirm(id: string): Promise<void>;
}
