import { randomBytes } from 'node:crypto';
import type { Role } from '../../src/protocol/api.js';
import type { ErrorCode } from '../../src/protocol/errors.js';
import type { RouteDeclaration } from '../../src/protocol/route-declaration.js';
import { type RouteName, ROUTES } from '../../src/protocol/routes.js';
import { REVIEWED_ROLES } from './reviewed-roles.js';

/**
 * One kind of caller of the API, as the role × route matrix calls it: a bearer
 * token of a role (bound to an environment or a host, or not), a dashboard
 * session (its cookie, with or without its CSRF token), a credential the
 * server does not know, or none.
 */
export interface MatrixCaller {
  readonly key: string;
  /**
   * What it presents: a token (`Authorization: Bearer`), a live session's
   * cookie, a credential the server does not know (a token or a session's
   * cookie: forged, revoked), or nothing.
   */
  readonly kind: 'bearer' | 'session' | 'unknown' | 'none';
  /** The role its token has (a session's: the role of the token it was made from). */
  readonly role: Role | null;
  /** The environment its token is bound to. */
  readonly env: string | null;
  /**
   * The host a host's own token (from its enrolment, role agent) speaks for,
   * and whether that host was sent the job whose bundle the matrix downloads.
   */
  readonly host: { name: string; sentJob: boolean } | null;
  /** A session that sends its CSRF token on writes. */
  readonly csrf: boolean;
  /** The `Origin` its requests come from, when it is another site's page. */
  readonly origin?: string;
  /** Its token's secret (a session's: the token it signs in with). */
  token: string;
  /** A session's cookie value and CSRF token (renewed when it signs in again): sent instead of the token. */
  session?: { id: string; csrf: string };
}

/** What a call by a caller must answer, by the route's declaration. */
export type MatrixVerdict =
  | { allowed: true }
  | { allowed: false; status: 401 | 403; code: ErrorCode; why: string; message?: string };

const ALLOWED: MatrixVerdict = { allowed: true };

function refused(status: 401 | 403, code: ErrorCode, why: string): MatrixVerdict {
  return { allowed: false, status, code, why };
}

/** Methods a session calls without its CSRF token. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Rules narrower than a route's roles that its declaration states in words
 * (`note` or `forbidden`): a role it takes, but not every token of that role.
 * They only ever refuse more; the matrix checks each refusal exactly. A route
 * named here must say so in its declaration (the test checks that).
 */
export const NARROWER_RULES: Partial<
  Record<RouteName, (caller: MatrixCaller) => MatrixVerdict | undefined>
> = {
  // "Needs an enrolment token, not a host token."
  enroll: (caller) =>
    caller.host ? refused(403, 'E_FORBIDDEN', 'a host token enrols nothing') : undefined,
  // "An agent token downloads only a bundle its host was sent": an enrolment token has no host.
  downloadBundle: (caller) =>
    caller.role === 'agent' && !caller.host?.sentJob
      ? refused(403, 'E_FORBIDDEN', 'an agent downloads only the bundles its host was sent')
      : undefined,
  // "Only a host's own credential is rotated (confirmed), with that credential":
  // an enrolment token has no host.
  rotateCredential: (caller) =>
    caller.role === 'agent' && !caller.host
      ? refused(403, 'E_FORBIDDEN', 'an enrolment token has no credential to rotate')
      : undefined,
  confirmCredential: (caller) =>
    caller.role === 'agent' && !caller.host
      ? refused(403, 'E_FORBIDDEN', 'an enrolment token has no credential to confirm')
      : undefined,
  // "Only with the session cookie: a bearer token has no session."
  session: (caller) =>
    caller.kind === 'bearer'
      ? refused(401, 'E_AUTH_REQUIRED', 'a token has no session')
      : undefined,
  endSession: (caller) =>
    caller.kind === 'bearer'
      ? refused(401, 'E_AUTH_REQUIRED', 'a token has no session')
      : undefined,
  // "A request whose Origin is another site is E_CSRF"; "an agent token is E_FORBIDDEN"
  // (the token signing in is the caller's own).
  startSession: (caller) => {
    if (caller.origin !== undefined) {
      return refused(403, 'E_CSRF', "another site's page signs no browser in");
    }
    return caller.role === 'agent'
      ? refused(403, 'E_FORBIDDEN', 'an agent token signs no browser in')
      : undefined;
  },
};

/**
 * What `caller` calling route `name` must be answered, in the order the server
 * decides: a public route takes anyone; then a credential is needed and must
 * be known (401); a session's write needs its CSRF token, and the token's role
 * must be one the route takes (403); then the route's narrower rules. The
 * roles are the reviewed ones (`REVIEWED_ROLES`), not the declaration's: a
 * declaration widened by mistake is answered as it says, and fails.
 */
export function expectedVerdict(name: RouteName, caller: MatrixCaller): MatrixVerdict {
  const route: RouteDeclaration = ROUTES[name];
  const roles = REVIEWED_ROLES[name] ?? route.roles;
  const narrower = NARROWER_RULES[name];
  if (roles === 'public') return narrower?.(caller) ?? ALLOWED;
  if (caller.kind === 'none') return refused(401, 'E_AUTH_REQUIRED', 'no credential');
  if (caller.kind === 'unknown' || caller.role === null) {
    return refused(401, 'E_AUTH_INVALID', 'a credential the server does not know');
  }
  if (caller.kind === 'session' && !SAFE_METHODS.has(route.method)) {
    if (caller.origin !== undefined) return refused(403, 'E_CSRF', "another site's page writing");
    if (!caller.csrf) return refused(403, 'E_CSRF', "a session's write without its CSRF token");
  }
  if (!roles.includes(caller.role)) {
    const why = `the route takes ${roles.join(', ')}`;
    // What the declaration tells a token of another role, when it says.
    const message = route.forbidden === undefined ? {} : { message: route.forbidden };
    return { allowed: false, status: 403, code: 'E_FORBIDDEN', why, ...message };
  }
  return narrower?.(caller) ?? ALLOWED;
}

/** A token of the right shape that no server made. */
export function forgedToken(): string {
  return `ferry_admin_${randomBytes(32).toString('base64url')}`;
}

/** The request headers that present a caller: its session's cookie, else its token. */
export function credentialHeaders(caller: MatrixCaller, method: string): Record<string, string> {
  const origin: Record<string, string> =
    caller.origin === undefined ? {} : { origin: caller.origin };
  if (caller.kind === 'none') return origin;
  if (caller.kind === 'session' && !caller.session) {
    throw new Error(`${caller.key} is not signed in`);
  }
  if (!caller.session) return { ...origin, authorization: `Bearer ${caller.token}` };
  const cookie = { ...origin, cookie: `ferry_session=${caller.session.id}` };
  return caller.csrf && !SAFE_METHODS.has(method)
    ? { ...cookie, 'x-ferry-csrf': caller.session.csrf }
    : cookie;
}
