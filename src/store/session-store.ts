import type { StoredToken } from './token-store.js';

/** A new browser session: only the sha256 of its id is kept, never the id. */
export interface NewSession {
  idHash: string;
  /** The token the session was made from: it lasts only while the token does. */
  tokenId: string;
  csrfToken: string;
  createdAt: string;
  expiresAt: string;
}

/** A session that counts, with the token it speaks as. */
export interface ActiveSession {
  idHash: string;
  csrfToken: string;
  createdAt: string;
  expiresAt: string;
  token: StoredToken;
}

/**
 * The dashboard's sessions, shared by every replica of one store: a session
 * made on one replica works on another.
 *
 * @example
 *   await store.sessions.create({ idHash, tokenId, csrfToken, createdAt, expiresAt });
 *   const session = await store.sessions.findActive(idHash, new Date().toISOString());
 */
export interface SessionStore {
  /** Records a session, and sweeps the sessions that no longer count (expired, or of a revoked token). */
  create(session: NewSession): Promise<void>;
  /**
   * A session by the hash of its id, only while it has not expired at `now`
   * and its token is not revoked.
   */
  findActive(idHash: string, now: string): Promise<ActiveSession | undefined>;
  /** Ends a session; false when there was none. */
  end(idHash: string): Promise<boolean>;
}
