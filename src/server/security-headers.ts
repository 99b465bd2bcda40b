import type { FastifyInstance } from 'fastify';

/**
 * The Content-Security-Policy of everything the server answers: the dashboard
 * loads scripts, styles, fonts and images from this server only, talks to
 * this server only, runs no inline script or style, and is framed by nobody.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The headers every answer carries: API, pages, files, errors and 404s alike. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
});

/**
 * Puts the security headers on every answer, and `Cache-Control: no-store`
 * unless the route sets its own (the dashboard's files do). They are set on
 * the raw response as the request arrives, so they reach answers Fastify does
 * not write itself: the event stream writes its head directly, and an error
 * or a 404 is written wherever it happens.
 */
export function addSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onRequest', (_request, reply, done) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.raw.setHeader(name, value);
    reply.raw.setHeader('cache-control', 'no-store');
    done();
  });
}
