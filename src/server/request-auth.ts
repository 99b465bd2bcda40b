import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { CSRF_HEADER } from '../protocol/api.js';
import { FerryError } from '../protocol/errors.js';
import type { StoredToken } from '../store/store.js';
import './request-context.js';
import { readSessionCookie } from './session-cookie.js';
import type { SessionService } from './session-service.js';
import type { TokenService } from './token-service.js';

/** Methods that change nothing: a session's reads need no CSRF token. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Who a request speaks as. An `Authorization: Bearer` header is a token, as
 * it always was (the CLI, agents, scripts: no CSRF token). Without one, the
 * dashboard's `ferry_session` cookie is its session's token; a write on a
 * session must come from this server's own origin and carry the session's
 * CSRF token in `x-ferry-csrf`, so that another site's page cannot make the
 * browser write with it. Sets `request.session` for a cookie.
 */
export async function authenticateRequest(
  request: FastifyRequest,
  tokens: TokenService,
  sessions: SessionService,
): Promise<StoredToken> {
  const authorization = request.headers.authorization;
  const sessionId =
    authorization === undefined ? readSessionCookie(request.headers.cookie) : undefined;
  if (sessionId === undefined) return tokens.authenticate(authorization);
  const session = await sessions.authenticate(sessionId);
  if (!SAFE_METHODS.has(request.method)) {
    refuseCrossSite(request);
    const sent = request.headers[CSRF_HEADER];
    if (typeof sent !== 'string' || !sameSecret(sent, session.csrfToken)) {
      throw new FerryError(
        'E_CSRF',
        "This write came without the page's CSRF token; reload the page",
        sent === undefined ? { header: CSRF_HEADER } : { header: CSRF_HEADER, wrong: true },
      );
    }
  }
  request.session = session;
  return session.token;
}

/**
 * Refuses a request whose `Origin` is present and is not this server's own:
 * a write from another site's page (or a sandboxed one, `Origin: null`).
 * A request without the header (not from a browser's cross-site fetch) passes.
 * The server's origin is the scheme it was reached by and the `Host` header;
 * `https://` with the same host also counts when the request came as plain
 * HTTP, since a proxy in front that ends TLS is how Ferry is served over
 * HTTPS until it speaks TLS itself (the reverse, a page over plain HTTP
 * writing to a server reached over TLS, does not).
 */
export function refuseCrossSite(request: FastifyRequest): void {
  const origin = request.headers.origin;
  if (origin === undefined) return;
  const sent = originOf(origin);
  if (sent !== null && sent === originOf(`${request.protocol}://${request.host}`)) return;
  if (sent !== null && request.protocol === 'http' && sent === originOf(`https://${request.host}`))
    return;
  throw new FerryError(
    'E_CSRF',
    `This write came from another site (${origin.slice(0, 100)}), not from this server's page`,
    { origin: origin.slice(0, 100) },
  );
}

/** An origin normalised (case, default port), or null when it is not one. */
function originOf(text: string): string | null {
  try {
    const url = new URL(text);
    return url.origin === 'null' ? null : url.origin;
  } catch {
    return null;
  }
}

/** Compares two secrets in time that does not depend on where they differ. */
function sameSecret(sent: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(sent), digest(expected));
}
