import { z } from 'zod';
import { eventsQuerySchema } from './events.js';
import { environmentRecordSchema } from './api.js';
import { auditAnswerSchema, auditQuerySchema } from './audit-api.js';
import { alertsAnswerSchema, alertsQuerySchema } from './alert-api.js';
import { declareRoute, type RouteDeclaration } from './route-declaration.js';
import { AGENT_ROUTES } from './agent-routes.js';
import { PEOPLE } from './route-parts.js';
import { BUNDLE_ROUTES } from './bundle-routes.js';
import { TOKEN_ROUTES } from './token-routes.js';
import { HOST_ROUTES } from './host-routes.js';
import { VARIABLE_ROUTES } from './variable-routes.js';
import { VERDICT_ROUTES } from './verdict-routes.js';
import { DEPLOYMENT_ROUTES } from './deployment-routes.js';
import { NOTE_ROUTES } from './note-routes.js';
import { REPORT_ROUTES } from './report-routes.js';
import { SESSION_ROUTES } from './session-routes.js';
import { WEBHOOK_ROUTES } from './webhook-routes.js';

/**
 * Every HTTP route of the API, declared once: the server registers its routes
 * from these (a route without a declaration cannot be registered), the client
 * calls them by name, and `docs/api.md` is generated from them
 * (`npm run docs:api`).
 *
 * Each area's routes are declared in their own table (`BUNDLE_ROUTES`, ...)
 * and spread in here where they stand: the order is the reference's. A
 * spread, unlike one literal, lets a name used twice pass (the later route
 * would replace the earlier): `route-tables.test.ts` checks each is used once.
 */
export const ROUTES = {
  events: declareRoute({
    feature: 'events',
    method: 'GET',
    path: '/events',
    roles: PEOPLE,
    summary:
      'The live event stream (Server-Sent Events): every change, filtered by app, environment, deployment, host or kind.',
    note: 'Each event has an id; a client that reconnects with `Last-Event-ID` (or `?after=`) gets every event after it that is still kept, once, then the live ones. A `stream.gap` event says some were pruned. The stream ends when what opened it stops counting: its session signed out or expired, its token revoked (on another replica: within `events.heartbeatSeconds`); reconnecting is then refused.',
    query: eventsQuerySchema,
    answer: { stream: true, contentTypes: ['text/event-stream'] },
    statuses: [200],
  }),

  health: declareRoute({
    feature: 'health',
    method: 'GET',
    path: '/health',
    roles: 'public',
    summary: 'Whether the server answers, and its version.',
    answer: z.object({
      ok: z.boolean(),
      version: z.string(),
      /** True when the server speaks plain HTTP (`--insecure-http`). */
      insecureHttp: z.boolean().optional(),
      /** When the CA clients trust ends (ISO time): the server's own, or the operator's private one. */
      caExpiresAt: z.string().optional(),
    }),
    statuses: [200],
  }),

  ...BUNDLE_ROUTES,
  ...TOKEN_ROUTES,

  environments: declareRoute({
    feature: 'environments',
    method: 'GET',
    path: '/envs',
    roles: PEOPLE,
    summary: 'The lifecycle in order: each environment with its settings and host counts.',
    answer: z.object({ environments: z.array(environmentRecordSchema) }),
    statuses: [200],
  }),

  ...HOST_ROUTES,
  ...VARIABLE_ROUTES,
  ...VERDICT_ROUTES,
  ...DEPLOYMENT_ROUTES,
  ...NOTE_ROUTES,
  ...REPORT_ROUTES,
  ...SESSION_ROUTES,

  audit: declareRoute({
    feature: 'audit',
    method: 'GET',
    path: '/audit',
    roles: ['admin'],
    summary:
      'The audit log: every request that changed something or tried to, with who, from where, what and the outcome; the newest `limit` entries (200 unless given), oldest first.',
    note: '`since` keeps the entries at or after a time; `who` those of one token, by its name or id. Entries older than `audit.retentionDays` are pruned. `more` is true when older entries matched beyond those answered.',
    query: auditQuerySchema,
    answer: auditAnswerSchema,
    statuses: [200],
  }),

  alerts: declareRoute({
    feature: 'alerts',
    method: 'GET',
    path: '/alerts',
    roles: PEOPLE,
    summary:
      'Alerts, newest first (200 unless `limit` says): a service failing its health check or restarting, a full disk or memory, a host away; each with its subject (host, app and release), when it started and when it cleared.',
    note: "`open=true` keeps the open ones, `open=false` the cleared ones; `env`, `app` and `host` (a name) keep those about it. An unknown `host` is `E_HOST_NOT_FOUND`. Thresholds are in the server's config (`alerts`, docs/alerts.md).",
    query: alertsQuerySchema,
    answer: alertsAnswerSchema,
    statuses: [200],
  }),
  ...WEBHOOK_ROUTES,

  installWanted: AGENT_ROUTES.installWanted,
} as const satisfies Record<string, RouteDeclaration>;

/** A route's name: the key the client calls it by. */
export type RouteName = keyof typeof ROUTES;
/** The declaration of one route, by name. */
export type Route<N extends RouteName> = (typeof ROUTES)[N];
