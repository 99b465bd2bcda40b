import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { AUDIT_OK, type AuditWho } from '../../protocol/audit-api.js';
import type { RouteDeclaration } from '../../protocol/route-declaration.js';
import { ROUTES } from '../../protocol/routes.js';
import type { NewAuditEntry } from '../../store/store.js';
import '../request-context.js';
import type { AuditLog } from './audit-log.js';
import { auditTargetOf } from './audit-target.js';

/**
 * Records every request to a declared route other than GET in the audit log,
 * driven by the route declarations alone: a new write route is recorded
 * without code of its own (its `audit` declaration names its target). The
 * entry is made when the answer is (`onSend`), so refusals are recorded too:
 * a missing or unknown token (401), a role or environment not allowed (403),
 * a body that does not validate (400), a conflict (409). A refusal's target
 * names only what passed the route's schemas: the path and query when they
 * validate, the body only when it did. Writing it does not
 * hold up the answer, and nothing about it can fail the request: a failure
 * is logged. Only the declared target parts are kept: never a body, a
 * secret, a token or a header.
 *
 * @example
 *   auditWrites(app, new AuditLog(store.audit, app.log, 365));
 */
export function auditWrites(app: FastifyInstance, log: AuditLog): void {
  const recorded = new WeakSet<FastifyRequest>();
  app.addHook('onSend', (request, reply, payload, done) => {
    const name = request.routeOptions.config.ferryRoute;
    const route: RouteDeclaration | undefined = name === undefined ? undefined : ROUTES[name];
    if (name !== undefined && route !== undefined && route.method !== 'GET') {
      if (!recorded.has(request)) {
        recorded.add(request);
        try {
          log.record(entryOf(name, route, request, reply, payload));
        } catch (err) {
          request.log.error({ err, action: name }, 'the audit entry of this request was not made');
        }
      }
    }
    done(null, payload);
  });
}

function entryOf(
  action: string,
  route: RouteDeclaration,
  request: FastifyRequest,
  reply: FastifyReply,
  payload: unknown,
): NewAuditEntry {
  const status = reply.statusCode;
  const input = request.ferryInput;
  return {
    at: new Date().toISOString(),
    who: whoOf(request),
    from: addressOf(request),
    action,
    method: route.method,
    path: route.path,
    // Only input the route's schemas accepted: a refused request may send
    // anything (`{"name": "DB_PASS=hunter2"}`), and a body that did not
    // validate is never read.
    target: auditTargetOf(route.audit, {
      params: input?.params ?? validated(route.params, request.params),
      query: input?.query ?? validated(route.query, request.query),
      body: input?.body,
      answer: status < 400 ? request.ferryAnswer : undefined,
    }),
    status,
    outcome: status < 400 ? AUDIT_OK : (errorCodeOf(payload) ?? `HTTP_${status}`),
  };
}

/** The input parsed by its schema, or undefined when there is none or it does not validate. */
function validated(schema: z.ZodType | undefined, input: unknown): unknown {
  if (schema === undefined) return undefined;
  const parsed = schema.safeParse(input);
  return parsed.success ? parsed.data : undefined;
}

/** The token a request spoke as, and whether it came as a session's cookie. */
function whoOf(request: FastifyRequest): AuditWho | null {
  const token = request.session?.token ?? request.token;
  if (token === undefined) return null;
  return {
    tokenId: token.id,
    name: token.name,
    role: token.role,
    via: request.session === undefined ? 'token' : 'session',
  };
}

/**
 * The TCP peer's address (an IPv4 address without its IPv6 mapping). There
 * is no trust-proxy setting: behind a proxy, this is the proxy's address.
 */
function addressOf(request: FastifyRequest): string {
  const address = request.socket.remoteAddress;
  if (address === undefined) return 'unknown';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** The `code` of an error answer (`{code, message, details}`), if it is one. */
function errorCodeOf(payload: unknown): string | undefined {
  const text = Buffer.isBuffer(payload) ? payload.toString('utf8') : payload;
  if (typeof text !== 'string' || text.length > 64 * 1024) return undefined;
  try {
    const code = (JSON.parse(text) as { code?: unknown } | null)?.code;
    return typeof code === 'string' && /^E_[A-Z0-9_]{1,60}$/.test(code) ? code : undefined;
  } catch {
    return undefined;
  }
}
