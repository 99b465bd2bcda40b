import type { FastifyRequest } from 'fastify';
import type { ActiveSession, StoredToken } from '../store/store.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The token that authenticated this request; set for every `/api/v1` route but health. */
    token?: StoredToken;
    /** The dashboard session whose cookie authenticated this request, if one did. */
    session?: ActiveSession;
    /**
     * A declared route's input as its handler got it, parsed, and the JSON
     * answer it returned: what the audit log names a write's target from.
     */
    ferryInput?: { params: unknown; query: unknown; body: unknown };
    ferryAnswer?: unknown;
  }
}

/** The authenticated token of a request; the auth hook guarantees it on protected routes. */
export function tokenOf(request: FastifyRequest): StoredToken {
  if (!request.token) throw new Error('route is missing the auth hook');
  return request.token;
}
