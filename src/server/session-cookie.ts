import { SESSION_COOKIE } from '../protocol/api.js';

/** A session id as the server makes it: 32 random bytes in base64url, 43 characters. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/**
 * The session id a `Cookie` header carries in `ferry_session`, or undefined.
 * Strict about the name (exactly `ferry_session`, no other case, no prefix)
 * and the value (what `newSessionId` makes): anything else is no session.
 * When a browser sends the name twice (a cookie of a parent domain or
 * another path), the first that looks like an id is taken; a wrong one only
 * fails to authenticate.
 *
 * @example
 *   readSessionCookie('theme=dark; ferry_session=abc…') // 'abc…'
 */
export function readSessionCookie(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(';')) {
    const equals = pair.indexOf('=');
    if (equals < 0) continue;
    if (pair.slice(0, equals).trim() !== SESSION_COOKIE) continue;
    const value = pair.slice(equals + 1).trim();
    if (SESSION_ID.test(value)) return value;
  }
  return undefined;
}

/** How a session cookie is set. */
export interface SessionCookieOptions {
  /** Seconds until the browser drops it: the session's lifetime, or 0 to clear it. */
  maxAgeSeconds: number;
  /** Only over HTTPS: true when the request came over TLS. */
  secure: boolean;
}

/**
 * The `Set-Cookie` value of a session: HttpOnly (no script reads it),
 * SameSite=Strict (no other site's page sends it), for the whole server.
 *
 * @example
 *   reply.header('set-cookie', sessionCookie(id, { maxAgeSeconds: 43200, secure: false }));
 */
export function sessionCookie(id: string, options: SessionCookieOptions): string {
  if (id !== '' && !SESSION_ID.test(id)) throw new Error('not a session id');
  const maxAge = Math.max(0, Math.floor(options.maxAgeSeconds));
  return [
    `${SESSION_COOKIE}=${id}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${maxAge}`,
    ...(options.secure ? ['Secure'] : []),
  ].join('; ');
}

/** The `Set-Cookie` value that clears the session cookie (sign-out). */
export function clearedSessionCookie(secure: boolean): string {
  return sessionCookie('', { maxAgeSeconds: 0, secure });
}
