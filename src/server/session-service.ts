import { createHash, randomBytes } from 'node:crypto';
import type { Session } from '../protocol/api.js';
import { FerryError } from '../protocol/errors.js';
import type { ActiveSession, Store } from '../store/store.js';
import { SERVER_VERSION } from '../version.js';
import type { TokenService } from './token-service.js';

/** A session just made: its id goes to the browser's cookie once, and nowhere else. */
export interface StartedSession {
  id: string;
  session: ActiveSession;
}

/** The sha256 of a session id: the only form the store keeps. */
function hashSessionId(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

/**
 * The dashboard's sign-in sessions. A person's token is exchanged once for a
 * random session id (32 bytes, kept by the store only as its sha256) and a
 * CSRF token; the session then speaks as that token, with its role and
 * environment, until it expires (`sessions.ttlHours` after sign-in), is
 * ended, or its token is revoked. Every replica of one store shares them.
 *
 * @example
 *   const { id, session } = await sessions.start(pastedToken);
 *   const again = await sessions.authenticate(id); // on any replica
 */
export class SessionService {
  constructor(
    private readonly store: Store,
    private readonly tokens: TokenService,
    private readonly ttlMs: number,
  ) {}

  /** How long a new session lasts, in seconds: the cookie's Max-Age. */
  get ttlSeconds(): number {
    return Math.floor(this.ttlMs / 1000);
  }

  /**
   * Signs a person in with their token. An unknown or revoked token is the
   * 401 a bearer call gets; an agent's token is refused, since a host's
   * credentials have no business in a browser.
   */
  async start(secret: string): Promise<StartedSession> {
    const token = await this.tokens.authenticateSecret(secret);
    if (token.role === 'agent') {
      throw new FerryError(
        'E_FORBIDDEN',
        "An agent token speaks only for its host and cannot sign in to the dashboard: use a person's token",
        { has: 'agent' },
      );
    }
    const id = randomBytes(32).toString('base64url');
    const now = Date.now();
    const session: ActiveSession = {
      idHash: hashSessionId(id),
      csrfToken: randomBytes(32).toString('base64url'),
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + this.ttlMs).toISOString(),
      token,
    };
    await this.store.sessions.create({
      idHash: session.idHash,
      tokenId: token.id,
      csrfToken: session.csrfToken,
      createdAt: session.createdAt,
      expiresAt: session.expiresAt,
    });
    return { id, session };
  }

  /** The session of a cookie's id, or a 401 telling the page to sign in again. */
  async authenticate(id: string): Promise<ActiveSession> {
    const session = await this.store.sessions.findActive(
      hashSessionId(id),
      new Date().toISOString(),
    );
    if (!session) {
      throw new FerryError(
        'E_AUTH_INVALID',
        'Your session has ended (signed out, expired, or its token was revoked): sign in again',
      );
    }
    await this.tokens.used(session.token);
    return session;
  }

  /** Ends a session: its cookie is refused from now on, on every replica. */
  async end(session: ActiveSession): Promise<void> {
    await this.store.sessions.end(session.idHash);
  }
}

/** What the page is told of its session: never the token, nor the session id. */
export function sessionAnswer(session: ActiveSession): Session {
  const { name, role, env } = session.token;
  return {
    name,
    role,
    env,
    expiresAt: session.expiresAt,
    csrfToken: session.csrfToken,
    version: SERVER_VERSION,
  };
}
