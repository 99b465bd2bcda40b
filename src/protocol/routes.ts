import { z } from 'zod';
import { eventsQuerySchema } from './events.js';
import { hostFactsAnswerSchema, hostFactsQuerySchema } from './host-facts.js';
import { appNameSchema } from '../bundle/manifest-schema.js';
import {
  appSummarySchema,
  bundleDetailWithVerdictSchema,
  bundleRecordSchema,
  environmentRecordSchema,
  hostRecordSchema,
  installCreateBodySchema,
  installLogsSchema,
  installRecordSchema,
  pushResultSchema,
  type Role,
  sessionSchema,
  sessionStartBodySchema,
  tokenCreateBodySchema,
  tokenCreatedSchema,
  tokenRecordSchema,
  tokensQuerySchema,
  variableNameSchema,
  variableRecordSchema,
  variableScopeQuerySchema,
  variableSetBodySchema,
  variableSetResultSchema,
  verdictMarkBodySchema,
  verdictMarkResultSchema,
  verdictRecordSchema,
  whoamiSchema,
} from './api.js';
import {
  appStatusSchema,
  deployBodySchema,
  deploymentListQuerySchema,
  deploymentLogsSchema,
  deploymentRecordSchema,
  historyEntrySchema,
  promoteBodySchema,
  rollbackBodySchema,
} from './deployment-api.js';
import { countTextSchema, labelSchema } from './fields.js';
import {
  actionAddBodySchema,
  actionDoneResultSchema,
  actionListItemSchema,
  actionRecordSchema,
  actionsQuerySchema,
  noteAddBodySchema,
  noteEditBodySchema,
  noteRecordSchema,
  notesQuerySchema,
  recordIdTextSchema,
} from './note-api.js';
import { reportQuerySchema, reportSchema } from './report-api.js';
import { auditAnswerSchema, auditQuerySchema } from './audit-api.js';
import { type AuditDeclaration, declareRoute, type RouteDeclaration } from './route-declaration.js';
import { AGENT_ROUTES, ANY_TOKEN, bundleParams, deploymentParams } from './agent-routes.js';
import { driftAnswerSchema, driftQuerySchema } from './report-api.js';
import { alertsAnswerSchema, alertsQuerySchema } from './alert-api.js';
import {
  deliveryRecordSchema,
  webhookAddBodySchema,
  webhookCreatedSchema,
  webhookDeliveriesQuerySchema,
  webhookParamsSchema,
  webhookRecordSchema,
} from './webhook-api.js';

/**
 * Every HTTP route of the API, declared once: the server registers its routes
 * from these (a route without a declaration cannot be registered), the client
 * calls them by name, and `docs/api.md` is generated from them
 * (`npm run docs:api`).
 */

/** Any person's token: everything but an agent's. */
const PEOPLE = ['admin', 'deployer', 'qa'] as const satisfies readonly Role[];

const appParams = z.object({ app: appNameSchema });
const installParams = z.object({ id: z.string().min(1) });
const limitQuery = z.object({ limit: countTextSchema(1, 1000).optional() });
const historyQuery = z.strictObject({ limit: countTextSchema(1, 1000).optional() });
const recordParams = z.object({ id: recordIdTextSchema });

/** A variable set: its name and scope, never its value. */
const VARIABLE_SET_AUDIT = {
  target: {
    name: 'body.name',
    app: 'body.app',
    env: 'body.env',
    role: 'body.role',
    host: 'body.host',
  },
} as const satisfies AuditDeclaration;

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

  pushBundle: declareRoute({
    feature: 'bundles',
    method: 'POST',
    path: '/bundles',
    roles: ['admin', 'deployer'],
    summary:
      'Push a bundle (the raw .tar.gz as the body): 201 with its new version, or 200 with the version the same bytes already have.',
    note: "Deploys it at once to each environment with autoDeploy; the answer lists those deployments. The server signs the bundle with its own key. With `signature` and `signedBy` (both or neither), a developer's signature is checked and kept with the bundle (`E_SIGNATURE_INVALID` if it does not verify); pushing the same bytes again with a new signature adds it.",
    query: z.object({
      label: labelSchema.optional(),
      /** A developer's ed25519 signature (base64) over the bundle's app, sha256 and label. */
      signature: z
        .string()
        .regex(/^[A-Za-z0-9+/]{86}==$/, { error: 'expected an ed25519 signature in base64' })
        .optional(),
      /** The public key (32 bytes in base64) of the signature. */
      signedBy: z
        .string()
        .regex(/^[A-Za-z0-9+/]{43}=$/, { error: 'expected an ed25519 public key in base64' })
        .optional(),
    }),
    body: { stream: true, contentTypes: ['application/gzip', 'application/octet-stream'] },
    answer: pushResultSchema,
    statuses: [201, 200],
    audit: {
      target: {
        app: 'answer.bundle.app',
        version: 'answer.bundle.version',
        label: ['answer.bundle.label', 'query.label'],
      },
    },
  }),
  apps: declareRoute({
    feature: 'bundles',
    method: 'GET',
    path: '/apps',
    roles: PEOPLE,
    summary: 'Every app, with its latest version and bundle count.',
    answer: z.object({ apps: z.array(appSummarySchema) }),
    statuses: [200],
  }),
  bundles: declareRoute({
    feature: 'bundles',
    method: 'GET',
    path: '/apps/:app/bundles',
    roles: PEOPLE,
    summary: "An app's bundles, newest first.",
    params: appParams,
    query: limitQuery,
    answer: z.object({ bundles: z.array(bundleRecordSchema) }),
    statuses: [200],
  }),
  bundle: declareRoute({
    feature: 'bundles',
    method: 'GET',
    path: '/apps/:app/bundles/:version',
    roles: PEOPLE,
    summary: 'One bundle: its record, the manifest section it carries, and its verdict now.',
    params: bundleParams,
    answer: bundleDetailWithVerdictSchema,
    statuses: [200],
  }),
  downloadBundle: AGENT_ROUTES.downloadBundle,

  signingKey: AGENT_ROUTES.signingKey,

  whoami: declareRoute({
    feature: 'tokens',
    method: 'GET',
    path: '/whoami',
    roles: ANY_TOKEN,
    summary: 'The calling token (id, name, role, environment) and the server version.',
    answer: whoamiSchema,
    statuses: [200],
  }),
  createToken: declareRoute({
    feature: 'tokens',
    method: 'POST',
    path: '/tokens',
    roles: ['admin'],
    summary: 'Make a token; the answer is the only time its secret is shown.',
    body: tokenCreateBodySchema,
    answer: tokenCreatedSchema,
    statuses: [201],
    audit: {
      target: {
        name: ['answer.name', 'body.name'],
        role: 'body.role',
        env: 'body.env',
        id: 'answer.id',
      },
    },
  }),
  tokens: declareRoute({
    feature: 'tokens',
    method: 'GET',
    path: '/tokens',
    roles: ['admin'],
    summary:
      'Every token, without its secret; host credentials their rotation replaced only with `all=true`.',
    query: tokensQuerySchema,
    answer: z.object({ tokens: z.array(tokenRecordSchema) }),
    statuses: [200],
  }),
  revokeToken: declareRoute({
    feature: 'tokens',
    method: 'DELETE',
    path: '/tokens/:id',
    roles: ['admin'],
    summary: 'Revoke a token: it is refused from then on.',
    params: z.object({ id: z.string().min(1) }),
    answer: null,
    statuses: [204],
    audit: { target: { id: 'params.id' } },
  }),

  environments: declareRoute({
    feature: 'environments',
    method: 'GET',
    path: '/envs',
    roles: PEOPLE,
    summary: 'The lifecycle in order: each environment with its settings and host counts.',
    answer: z.object({ environments: z.array(environmentRecordSchema) }),
    statuses: [200],
  }),

  enroll: AGENT_ROUTES.enroll,
  rotateCredential: AGENT_ROUTES.rotateCredential,
  confirmCredential: AGENT_ROUTES.confirmCredential,
  hosts: declareRoute({
    feature: 'hosts',
    method: 'GET',
    path: '/hosts',
    roles: PEOPLE,
    summary: 'The enrolled hosts, of every environment or of one.',
    query: z.object({ env: z.string().optional() }),
    answer: z.object({
      hosts: z.array(hostRecordSchema),
      /** True when the server speaks plain HTTP (`--insecure-http`): `ferry hosts` warns. */
      insecureHttp: z.boolean().optional(),
      /** When the CA clients trust ends (ISO time): `ferry hosts` warns within 90 days of it. */
      caExpiresAt: z.string().optional(),
    }),
    statuses: [200],
  }),
  hostFacts: declareRoute({
    feature: 'hosts',
    method: 'GET',
    path: '/hosts/:name/facts',
    roles: PEOPLE,
    summary: "A host's latest facts, and the newest `history` samples with what changed in each.",
    params: z.object({ name: z.string().min(1) }),
    query: hostFactsQuerySchema,
    answer: hostFactsAnswerSchema,
    statuses: [200],
  }),
  removeHost: declareRoute({
    feature: 'hosts',
    method: 'DELETE',
    path: '/hosts/:name',
    roles: ['admin'],
    summary: 'Remove a host: its token is revoked, and its name may be enrolled again.',
    params: z.object({ name: z.string().min(1) }),
    answer: null,
    statuses: [204],
    audit: { target: { host: 'params.name' } },
  }),
  createInstall: declareRoute({
    feature: 'hosts',
    method: 'POST',
    path: '/installs',
    roles: ['admin'],
    summary: 'Install one bundle on one host, outside any deployment (`ferry install`).',
    body: installCreateBodySchema,
    answer: installRecordSchema,
    statuses: [201],
    audit: {
      target: { app: 'body.app', version: 'body.version', host: 'body.host', id: 'answer.id' },
    },
  }),
  install: declareRoute({
    feature: 'hosts',
    method: 'GET',
    path: '/installs/:id',
    roles: PEOPLE,
    summary: 'One install, with its steps.',
    params: installParams,
    answer: installRecordSchema,
    statuses: [200],
  }),
  installLogs: declareRoute({
    feature: 'hosts',
    method: 'GET',
    path: '/installs/:id/logs',
    roles: PEOPLE,
    summary: "The output of each step of an install, with each one's exit code and duration.",
    params: installParams,
    answer: installLogsSchema,
    statuses: [200],
  }),

  setVariable: declareRoute({
    feature: 'variables',
    method: 'PUT',
    path: '/vars',
    roles: ['admin', 'deployer'],
    summary: 'Set a variable in a scope: 201 when new, 200 when it replaced a value.',
    note: 'A protected environment (and its roles and hosts) takes only an admin.',
    body: variableSetBodySchema,
    answer: variableSetResultSchema,
    statuses: [201, 200],
    audit: VARIABLE_SET_AUDIT,
  }),
  setVariableByPost: declareRoute({
    feature: 'variables',
    method: 'POST',
    path: '/vars',
    roles: ['admin', 'deployer'],
    summary: 'The same as `PUT /vars`.',
    body: variableSetBodySchema,
    answer: variableSetResultSchema,
    statuses: [201, 200],
    audit: VARIABLE_SET_AUDIT,
  }),
  variables: declareRoute({
    feature: 'variables',
    method: 'GET',
    path: '/vars',
    roles: PEOPLE,
    summary: "The variables, of every scope or of one; a secret's value is always null.",
    query: variableScopeQuerySchema,
    answer: z.object({ variables: z.array(variableRecordSchema) }),
    statuses: [200],
  }),
  unsetVariable: declareRoute({
    feature: 'variables',
    method: 'DELETE',
    path: '/vars/:name',
    roles: ['admin', 'deployer'],
    summary: 'Unset a variable in one scope.',
    params: z.object({ name: variableNameSchema }),
    query: variableScopeQuerySchema,
    answer: null,
    statuses: [204],
    audit: {
      target: {
        name: 'params.name',
        app: 'query.app',
        env: 'query.env',
        role: 'query.role',
        host: 'query.host',
      },
    },
  }),

  markVerdict: declareRoute({
    feature: 'verdicts',
    method: 'POST',
    path: '/apps/:app/bundles/:version/verdict',
    roles: ['qa', 'admin'],
    summary:
      'Mark a bundle passed or failed; the answer says where it is live and what the mark started.',
    params: bundleParams,
    body: verdictMarkBodySchema,
    answer: verdictMarkResultSchema,
    statuses: [201],
    audit: { target: { app: 'params.app', version: 'params.version', verdict: 'body.verdict' } },
  }),
  verdicts: declareRoute({
    feature: 'verdicts',
    method: 'GET',
    path: '/apps/:app/bundles/:version/verdicts',
    roles: PEOPLE,
    summary: "A bundle's verdict changes, newest first.",
    params: bundleParams,
    answer: z.object({ verdicts: z.array(verdictRecordSchema) }),
    statuses: [200],
  }),

  deploy: declareRoute({
    feature: 'deployments',
    method: 'POST',
    path: '/deployments',
    roles: ['admin', 'deployer'],
    summary: 'Deploy a bundle to an environment; `E_DEPLOY_LOCKED` while one is active there.',
    note: "A protected environment takes only an admin; a deployer's token bound to an environment deploys only there.",
    body: deployBodySchema,
    answer: deploymentRecordSchema,
    statuses: [201],
    audit: {
      target: { app: 'body.app', version: 'body.version', env: 'body.env', id: 'answer.id' },
    },
  }),
  promote: declareRoute({
    feature: 'deployments',
    method: 'POST',
    path: '/promotions',
    roles: ['admin', 'deployer'],
    summary: 'Deploy a bundle to the environment after the last one where it landed.',
    note: 'The environment may require a verdict (`passed` for prod).',
    body: promoteBodySchema,
    answer: deploymentRecordSchema,
    statuses: [201],
    audit: {
      target: { app: 'body.app', version: 'body.version', env: 'answer.env', id: 'answer.id' },
    },
  }),
  rollback: declareRoute({
    feature: 'deployments',
    method: 'POST',
    path: '/rollbacks',
    roles: ['admin', 'deployer'],
    summary: 'Roll an environment back to the release before, or to a given version.',
    body: rollbackBodySchema,
    answer: deploymentRecordSchema,
    statuses: [201],
    audit: {
      target: {
        app: 'body.app',
        version: ['answer.version', 'body.to'],
        env: 'body.env',
        id: 'answer.id',
      },
    },
  }),
  deployments: declareRoute({
    feature: 'deployments',
    method: 'GET',
    path: '/deployments',
    roles: PEOPLE,
    summary: 'Deployments, newest first, of an app, an environment, or all.',
    query: deploymentListQuerySchema,
    answer: z.object({ deployments: z.array(deploymentRecordSchema) }),
    statuses: [200],
  }),
  deployment: declareRoute({
    feature: 'deployments',
    method: 'GET',
    path: '/deployments/:id',
    roles: PEOPLE,
    summary: 'One deployment, with each host install and the step it is at.',
    params: deploymentParams,
    answer: deploymentRecordSchema,
    statuses: [200],
  }),
  cancelDeployment: declareRoute({
    feature: 'deployments',
    method: 'POST',
    path: '/deployments/:id/cancel',
    roles: ['admin', 'deployer'],
    summary: 'Cancel a deployment: no install of it starts from then on.',
    params: deploymentParams,
    answer: deploymentRecordSchema,
    statuses: [200],
    audit: {
      target: { app: 'answer.app', version: 'answer.version', env: 'answer.env', id: 'params.id' },
    },
  }),
  resumeDeployment: declareRoute({
    feature: 'deployments',
    method: 'POST',
    path: '/deployments/:id/resume',
    roles: ['admin', 'deployer'],
    summary:
      'Resume a deployment paused after a bad bake: it goes on as it is (the next batch, or its end).',
    params: deploymentParams,
    answer: deploymentRecordSchema,
    statuses: [200],
    audit: {
      target: { app: 'answer.app', version: 'answer.version', env: 'answer.env', id: 'params.id' },
    },
  }),
  rollbackBakingDeployment: declareRoute({
    feature: 'deployments',
    method: 'POST',
    path: '/deployments/:id/rollback',
    roles: ['admin', 'deployer'],
    summary:
      'Roll back a deployment that is baking or paused: the hosts done go back to the release before.',
    params: deploymentParams,
    answer: deploymentRecordSchema,
    statuses: [200],
    audit: {
      target: { app: 'answer.app', version: 'answer.version', env: 'answer.env', id: 'params.id' },
    },
  }),
  deploymentLogs: declareRoute({
    feature: 'deployments',
    method: 'GET',
    path: '/deployments/:id/logs',
    roles: PEOPLE,
    summary: "Each install's step output, host by host, or of one host.",
    params: deploymentParams,
    query: z.strictObject({ host: z.string().min(1).max(100).optional() }),
    answer: deploymentLogsSchema,
    statuses: [200],
  }),
  status: declareRoute({
    feature: 'deployments',
    method: 'GET',
    path: '/status',
    roles: PEOPLE,
    summary: 'What runs where: per app and environment, the desired release and each host.',
    query: z.strictObject({ app: appNameSchema.optional() }),
    answer: z.object({ apps: z.array(appStatusSchema) }),
    statuses: [200],
  }),
  appHistory: declareRoute({
    feature: 'deployments',
    method: 'GET',
    path: '/apps/:app/history',
    roles: PEOPLE,
    summary: "An app's history: pushes, deployments, verdicts, installs, newest first.",
    params: appParams,
    query: historyQuery,
    answer: z.object({ history: z.array(historyEntrySchema) }),
    statuses: [200],
  }),
  history: declareRoute({
    feature: 'deployments',
    method: 'GET',
    path: '/history',
    roles: PEOPLE,
    summary: "Every app's history and the server's own: variables, hosts, tokens.",
    query: historyQuery,
    answer: z.object({ history: z.array(historyEntrySchema) }),
    statuses: [200],
  }),
  addNote: declareRoute({
    feature: 'notes',
    method: 'POST',
    path: '/notes',
    roles: PEOPLE,
    summary:
      'Add a note on a bundle or on a label, in a section of its release report, with an impact; the answer has its new id.',
    note: 'The bundle (and `fixedBy`) must exist (`E_BUNDLE_NOT_FOUND`); a label must be carried by at least one bundle (`E_LABEL_NOT_FOUND`).',
    body: noteAddBodySchema,
    answer: noteRecordSchema,
    statuses: [201],
    audit: {
      target: {
        app: 'body.on.app',
        version: 'body.on.version',
        label: 'body.on.label',
        id: 'answer.id',
      },
    },
  }),
  notes: declareRoute({
    feature: 'notes',
    method: 'GET',
    path: '/notes',
    roles: PEOPLE,
    summary:
      "Notes with their actions, in the order added: a bundle's (`app` and `version`), an app's, a label's (on the label and on each bundle pushed with it), or all.",
    query: notesQuerySchema,
    answer: z.object({ notes: z.array(noteRecordSchema) }),
    statuses: [200],
  }),
  note: declareRoute({
    feature: 'notes',
    method: 'GET',
    path: '/notes/:id',
    roles: PEOPLE,
    summary: 'One note, with its actions.',
    params: recordParams,
    answer: noteRecordSchema,
    statuses: [200],
  }),
  editNote: declareRoute({
    feature: 'notes',
    method: 'PATCH',
    path: '/notes/:id',
    roles: PEOPLE,
    summary:
      "Change a note's section, impact, text or the bundle that fixed it (`fixedBy: null` removes it); what the body leaves out stays.",
    params: recordParams,
    body: noteEditBodySchema,
    answer: noteRecordSchema,
    statuses: [200],
    audit: { target: { id: 'params.id' } },
  }),
  addAction: declareRoute({
    feature: 'notes',
    method: 'POST',
    path: '/notes/:id/actions',
    roles: PEOPLE,
    summary: 'Give an owner an action on a note; the answer has its new id.',
    params: recordParams,
    body: actionAddBodySchema,
    answer: actionRecordSchema,
    statuses: [201],
    audit: { target: { name: 'body.owner', id: 'params.id' } },
  }),
  completeAction: declareRoute({
    feature: 'notes',
    method: 'POST',
    path: '/actions/:id/done',
    roles: PEOPLE,
    summary: 'Mark an action done; one done already stays as it was, with `changed: false`.',
    params: recordParams,
    answer: actionDoneResultSchema,
    statuses: [200],
    audit: { target: { id: 'params.id' } },
  }),
  actions: declareRoute({
    feature: 'notes',
    method: 'GET',
    path: '/actions',
    roles: PEOPLE,
    summary:
      'Actions, in the order added, each with what its note is about: of one owner, and only the open ones (`open=true`).',
    query: actionsQuerySchema,
    answer: z.object({ actions: z.array(actionListItemSchema) }),
    statuses: [200],
  }),

  drift: declareRoute({
    feature: 'drift',
    method: 'GET',
    path: '/drift',
    roles: PEOPLE,
    summary:
      'What differs now between the hosts of each environment (or of `env`, among the hosts of `app`): runtime versions, OS, kernel, agent version, the release each app runs against the desired one, and variables of the configuration among the hosts of a role.',
    note: "Hosts that are away are compared by their last facts (`away` names them). A secret variable's values are compared by hash and shown as `(secret #1)`, `(secret #2)`, never by value. An unknown `env` is `E_ENV_NOT_FOUND`, an unknown `app` `E_APP_NOT_FOUND`.",
    query: driftQuerySchema,
    answer: driftAnswerSchema,
    statuses: [200],
  }),

  report: declareRoute({
    feature: 'reports',
    method: 'GET',
    path: '/report',
    roles: PEOPLE,
    summary:
      "The release report of one bundle (`app` and `version`) or of a label (every bundle pushed with it, across apps): summary, each environment's deployments and installs host by host, Ferry's findings, people's notes.",
    note: 'Built from the records at the moment of asking. `E_BUNDLE_NOT_FOUND` for an unknown bundle, `E_LABEL_NOT_FOUND` for a label no bundle carries.',
    query: reportQuerySchema,
    answer: reportSchema,
    statuses: [200],
  }),

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
  addWebhook: declareRoute({
    feature: 'webhooks',
    method: 'POST',
    path: '/webhooks',
    roles: ['admin'],
    summary:
      "Add a webhook: notifications of an environment (or every one) and of some kinds POSTed to a URL, signed with the webhook's secret; the answer is the only time the secret is shown.",
    note: 'The URL must be http or https (`E_WEBHOOK_URL`); an unknown environment is `E_ENV_NOT_FOUND`. Only events recorded after it was added are notified. See docs/webhooks.md.',
    body: webhookAddBodySchema,
    answer: webhookCreatedSchema,
    statuses: [201],
    audit: { target: { id: 'answer.id', env: 'body.env' } },
  }),
  webhooks: declareRoute({
    feature: 'webhooks',
    method: 'GET',
    path: '/webhooks',
    roles: ['admin'],
    summary:
      'Every webhook, without its secret, its URL shown as scheme, host and port and a short hash of the rest (never its path, query or password: where tokens are), with its last delivery.',
    answer: z.object({ webhooks: z.array(webhookRecordSchema) }),
    statuses: [200],
  }),
  testWebhook: declareRoute({
    feature: 'webhooks',
    method: 'POST',
    path: '/webhooks/:id/test',
    roles: ['admin'],
    summary:
      'Send a `ping` notification to a webhook now, once (no retry), and answer how the receiver answered.',
    params: webhookParamsSchema,
    answer: z.object({ delivery: deliveryRecordSchema }),
    statuses: [200],
    audit: { target: { id: 'params.id' } },
  }),
  webhookDeliveries: declareRoute({
    feature: 'webhooks',
    method: 'GET',
    path: '/webhooks/:id/deliveries',
    roles: ['admin'],
    summary: "A webhook's deliveries, newest first (`limit`, 50 unless given), with their status.",
    params: webhookParamsSchema,
    query: webhookDeliveriesQuerySchema,
    answer: z.object({ deliveries: z.array(deliveryRecordSchema) }),
    statuses: [200],
  }),
  removeWebhook: declareRoute({
    feature: 'webhooks',
    method: 'DELETE',
    path: '/webhooks/:id',
    roles: ['admin'],
    summary: 'Remove a webhook; its deliveries not yet made are dropped.',
    params: webhookParamsSchema,
    answer: null,
    statuses: [204],
    audit: { target: { id: 'params.id' } },
  }),

  installWanted: AGENT_ROUTES.installWanted,
} as const satisfies Record<string, RouteDeclaration>;

/** A route's name: the key the client calls it by. */
export type RouteName = keyof typeof ROUTES;
/** The declaration of one route, by name. */
export type Route<N extends RouteName> = (typeof ROUTES)[N];
