import { sessionSchema, sessionStartBodySchema } from './api.js';
import { declareRoute, type RouteDeclaration } from './route-declaration.js';
import { PEOPLE } from './route-parts.js';

/** The routes of a browser's session: signing in, the calling session, signing out. */
export const SESSION_ROUTES = {
  startSession: declareRoute({
    feature: 'sessions',
    method: 'POST',
    path: '/session',
    roles: 'public',
    summary:
      "Sign a browser in: a person's token is exchanged for a session cookie (`ferry_session`, HttpOnly, SameSite=Strict) and the answer gives the session's CSRF token.",
    note: 'An agent token is `E_FORBIDDEN`; an unknown or revoked token `E_AUTH_INVALID`. A request whose `Origin` is another site is `E_CSRF`. The session lasts `sessions.ttlHours` and ends with its token. The session of a cookie the request carries (signing in again) ends.',
    body: sessionStartBodySchema,
    answer: sessionSchema,
    statuses: [201],
    audit: { target: {} },
  }),
  session: declareRoute({
    feature: 'sessions',
    method: 'GET',
    path: '/session',
    roles: PEOPLE,
    summary: 'The calling session: who it is, when it ends, and its CSRF token.',
    note: 'Only with the session cookie: a bearer token has no session (`E_AUTH_REQUIRED`). With the cookie, every call but GET and HEAD must send the CSRF token as `x-ferry-csrf` (else `E_CSRF`).',
    answer: sessionSchema,
    statuses: [200],
  }),
  endSession: declareRoute({
    feature: 'sessions',
    method: 'DELETE',
    path: '/session',
    roles: PEOPLE,
    summary: 'Sign out: ends the session on the server and clears its cookie.',
    note: 'The cookie is cleared also when its session had ended already (expired, revoked, signed out in another tab: `E_AUTH_INVALID`), so that the browser forgets it; a live session whose sign-out lacks its CSRF token (`E_CSRF`) keeps it. A bearer call ends the session of the cookie it carries; without one it is `E_AUTH_REQUIRED` (a token has no session: revoke it to end its sessions).',
    answer: null,
    statuses: [204],
    audit: { target: {} },
  }),
} as const satisfies Record<string, RouteDeclaration>;
