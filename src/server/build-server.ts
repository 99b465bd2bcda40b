import { randomBytes } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  LogController,
} from 'fastify';
import type { ArtifactStore } from '../artifacts/artifact-store.js';
import type { DeploymentState } from '../protocol/deployment-api.js';
import { FerryError } from '../protocol/errors.js';
import { type InstallState, isActiveDeployment, isFinalInstall } from '../protocol/lifecycle.js';
import { ROUTES } from '../protocol/routes.js';
import { isStorageFull, storageFullError } from '../store/storage-full.js';
import type { Store } from '../store/store.js';
import { BuiltinServerTransport } from '../transport/builtin/builtin-server-transport.js';
import type { ServerTransport, TransportLogger } from '../transport/transport.js';
import { AgentService } from './agent-service.js';
import { auditWrites } from './audit/audit-hook.js';
import { AuditLog } from './audit/audit-log.js';
import { BundleService } from './bundle-service.js';
import { DeveloperKeys } from './developer-keys.js';
import { ServerSigningKey } from './signing-key.js';
import { CatchUp } from './deployments/catch-up.js';
import { DeploymentService } from './deployments/deployment-service.js';
import { InstallDispatcher } from './deployments/install-dispatcher.js';
import { RolloutDriver } from './deployments/rollout-driver.js';
import { isProtected } from './environment-config.js';
import { HostFactsService } from './host-facts-service.js';
import { NoteService } from './note-service.js';
import { RecordsService } from './records-service.js';
import { auditRoutes } from './routes/audit-routes.js';
import { alertRoutes } from './routes/alert-routes.js';
import { watchAlerts } from './alerts/watch-alerts.js';
import { deploymentRoutes } from './routes/deployment-routes.js';
import { InspectorPool } from './inspector-pool.js';
import './request-context.js';
import { EventBus } from './events/event-bus.js';
import { eventedStore } from './events/evented-store.js';
import { eventRoutes } from './routes/event-routes.js';
import { agentRoutes } from './routes/agent-routes.js';
import { environmentRoutes } from './routes/environment-routes.js';
import { bundleRoutes } from './routes/bundle-routes.js';
import { healthRoutes } from './routes/health-routes.js';
import { noteRoutes } from './routes/note-routes.js';
import { driftRoutes } from './routes/drift-routes.js';
import { reportRoutes } from './routes/report-routes.js';
import { ReportService } from './reports/report-service.js';
import { writeReportsOfReleases } from './reports/report-files.js';
import {
  authorizeRoute,
  guardDeclaredRoutes,
  type RoutePluginOptions,
} from './routes/route-plugin.js';
import { tokenRoutes } from './routes/token-routes.js';
import { variableRoutes } from './routes/variable-routes.js';
import { verdictRoutes } from './routes/verdict-routes.js';
import { webhookRoutes } from './routes/webhook-routes.js';
import { parseDuration } from '../bundle/manifest-schema.js';
import { NOTIFYING_EVENTS } from './webhooks/notification.js';
import { WebhookDispatcher } from './webhooks/webhook-dispatcher.js';
import { WebhookService } from './webhooks/webhook-service.js';
import type { ServerConfig } from './server-config.js';
import { TokenService } from './token-service.js';
import { authenticateRequest } from './request-auth.js';
import { addSecurityHeaders, RAW_ANSWER_HEADERS } from './security-headers.js';
import { SessionService } from './session-service.js';
import { sessionRoutes } from './routes/session-routes.js';
import { defaultWebRoot } from './web/web-root.js';
import { webRoutes } from './web/web-routes.js';
import { FerryMetrics } from './metrics/ferry-metrics.js';
import { metricsRoutes } from './metrics/metrics-routes.js';
import { VariableService } from './variable-service.js';
import { VerdictService } from './verdict-service.js';
import type { ServerWire } from './tls/server-tls.js';

/** What the server is built from: the adapters, chosen and opened by the caller. */
export interface ServerDeps {
  store: Store;
  artifacts: ArtifactStore;
  /**
   * Makes the transport to the agents, with the server's logger. Without it, the
   * built-in transport is made and rides on this server's own HTTP port (agents'
   * WebSockets).
   */
  transport?: (logger: TransportLogger) => ServerTransport;
  /** This replica's name as the holder of leases on deployments; random unless given. */
  replicaId?: string;
  /**
   * Check every JSON answer against its route's declared schema (an answer that
   * differs is a 500): on under tests (`NODE_ENV=test`) and in development.
   */
  checkAnswers?: boolean;
  /**
   * The built dashboard (`index.html`, `assets/`), served at `/`; by default
   * `dist/web` of this package. Without it, `/` says the dashboard was not built.
   */
  webRoot?: string;
  /**
   * Serve HTTPS with this certificate (the chain) and key; `app.server` is then
   * a TLS server whose certificate `setSecureContext` replaces. Plain HTTP without.
   */
  https?: { cert: string; key: string };
  /** What the server says of its wire (plain HTTP, the CA to pin); HTTPS with no CA to pin unless given. */
  wire?: ServerWire;
  /** Where the server's log lines (JSON, one a line) go: stdout unless given; tests read them. */
  logStream?: { write(line: string): void };
  /** The key that signs bundles (`ServerSigningKey.load`); a new one held in memory unless given. */
  signingKey?: ServerSigningKey;
}

/** The built app, with the services the caller may need at start-up. */
export interface BuiltServer {
  app: FastifyInstance;
  /** Notes and actions on releases; what the release report reads them from (`notesFor`). */
  notes: NoteService;
  deployments: DeploymentService;
  tokens: TokenService;
  sessions: SessionService;
  bundles: BundleService;
  agents: AgentService;
  events: EventBus;
  /** The audit log of the writes; `idle()` waits until those answered so far are recorded. */
  audit: AuditLog;
}

/**
 * Builds the HTTP app: routes, auth and error mapping. It does not listen; the
 * caller does (`app.listen`), or a test drives it with `app.inject`.
 */
export function buildServer(config: Readonly<ServerConfig>, deps: ServerDeps): BuiltServer {
  const app = Fastify({
    // Typed as the HTTP server's app either way: only listening differs.
    ...(deps.https === undefined ? {} : { https: deps.https }),
    logger: {
      level: config.logLevel,
      ...(deps.logStream === undefined ? {} : { stream: deps.logStream }),
    },
    // Routes log what matters themselves (a push, a token made); one line per
    // request would drown it.
    logController: new LogController({ disableRequestLogging: true }),
    // Requests that come while the server stops are refused below, with a
    // code (Fastify's own 503 has none: a client read it as a bug in Ferry).
    return503OnClosing: false,
    // Uploads of large bundles take as long as they take: each push bounds its own
    // time (limits.uploadIdleSeconds, limits.uploadMinBytesPerSecond).
    requestTimeout: 0,
    // The router's own refusals (a bad %-escape, a path parameter over 100
    // characters) answer in the shape of every other error.
    frameworkErrors: (err, _request, reply) => {
      const error = fastifyRefusal(err);
      void (reply as FastifyReply)
        .headers(RAW_ANSWER_HEADERS)
        .status(error.status)
        .send(error.toBody());
    },
    // Refusals from Node's HTTP parser, before any route: a request line or
    // headers too large, a malformed request.
    clientErrorHandler: (err, socket) => {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ECONNRESET' || socket.destroyed) return;
      const error =
        code === 'HPE_HEADER_OVERFLOW'
          ? new FerryError('E_HEADERS_TOO_LARGE', 'The request line and headers are too large')
          : new FerryError('E_BAD_REQUEST', 'The request is not valid HTTP');
      const body = JSON.stringify(error.toBody());
      if (socket.writable) {
        socket.write(
          `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\nConnection: close\r\n` +
            Object.entries(RAW_ANSWER_HEADERS)
              .map(([name, value]) => `${name}: ${value}\r\n`)
              .join('') +
            `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
      }
      socket.destroy(err);
    },
  });
  // Before any route is registered, here or by a plugin: each one is declared
  // (who may call it) or is a dashboard page, and nothing else can be added.
  guardDeclaredRoutes(app);
  // Stopping: the rollouts, streams and agents let go (the preClose hooks,
  // a few seconds) before the listener closes; a request meanwhile is told so.
  let stopping = false;
  app.addHook('preClose', (done) => {
    stopping = true;
    done();
  });
  app.addHook('onRequest', (_request, _reply, done) => {
    done(
      stopping
        ? new FerryError('E_SERVER_STOPPING', 'The server is stopping: ask again in a moment')
        : undefined,
    );
  });
  // Every change the services record is published on the bus (see eventedStore).
  const events = new EventBus(deps.store, app.log, config.events.keepDays);
  app.addHook('onReady', () => events.start());
  // First: an open stream would hold the HTTP server's close for ever.
  app.addHook('preClose', () => events.stop());
  const store = eventedStore(deps.store, events);
  const tokens = new TokenService(store, events, {
    lifetimeMs: config.hosts.credentialDays * 86_400_000,
    rotateWhenLeft: config.hosts.rotateWhenLeft,
    graceMs: config.hosts.rotationGraceSeconds * 1000,
  });
  const sessions = new SessionService(
    store,
    tokens,
    config.sessions.ttlHours * 3600 * 1000,
    events,
  );
  const inspectors = new InspectorPool(config.limits.inspectorThreads);
  app.addHook('onClose', () => inspectors.close());
  const signingKey = deps.signingKey ?? ServerSigningKey.ephemeral();
  const developerKeys = new DeveloperKeys(config.developerKeys);
  const bundles = new BundleService(store, deps.artifacts, config.limits, inspectors, {
    key: signingKey,
    developers: developerKeys,
  });
  const transport = deps.transport?.(app.log) ?? builtinTransport();
  const variables = new VariableService(store, (env) => {
    const settings = config.environments.find((e) => e.name === env);
    return settings === undefined || isProtected(settings);
  });
  const verdicts = new VerdictService(store, bundles);
  const dispatcher = new InstallDispatcher(store, transport, variables);
  const hostFacts = new HostFactsService(store, config.factsHistory, app.log);
  const agents = new AgentService(
    store,
    tokens,
    bundles,
    transport,
    app.log,
    variables,
    dispatcher,
    hostFacts,
    events,
    (bundle, env) => {
      // An environment no longer configured requires nothing (it has no settings).
      const settings = config.environments.find((e) => e.name === env);
      if (settings) developerKeys.checkEntry(bundle, settings);
    },
  );
  app.addHook('onClose', () => agents.close());
  const catchUp = new CatchUp(store, bundles, dispatcher, app.log);
  const replicaId = deps.replicaId ?? `replica_${randomBytes(6).toString('hex')}`;
  const driver = new RolloutDriver(store, bundles, dispatcher, variables, app.log, {
    replicaId,
    leaseMs: config.rollout.leaseSeconds * 1000,
    tickMs: config.rollout.tickMs,
  });
  const deployments = new DeploymentService(
    store,
    config.environments,
    bundles,
    variables,
    verdicts,
    developerKeys,
  );
  const records = new RecordsService(store, config.environments, bundles, variables);
  const reports = new ReportService(store, config.environments);
  const notes = new NoteService(
    store,
    bundles,
    async (on) => (await reports.reportOf(on)).findings,
  );
  listenOnBus(events, { driver, deployments, catchUp, agents });
  writeReportsOfReleases(app, events, reports, store, config);
  const alerts = watchAlerts(app, events, store, config);
  app.addHook('onReady', () => driver.start());
  // Notifications to webhooks, derived from the events every replica records.
  const webhookTimeoutMs = parseDuration(config.webhooks.timeout);
  const webhooks = new WebhookService(
    store,
    () => config.environments.map((e) => e.name),
    webhookTimeoutMs,
  );
  const notifier = new WebhookDispatcher(
    store,
    app.log,
    {
      retryFirstMs: parseDuration(config.webhooks.retryFirst),
      retryMaxMs: parseDuration(config.webhooks.retryMax),
      giveUpAfterMs: parseDuration(config.webhooks.giveUpAfter),
      timeoutMs: webhookTimeoutMs,
      pollMs: parseDuration(config.webhooks.poll),
      keepMs: config.webhooks.keepDays * 86_400_000,
    },
    replicaId,
  );
  events.on(NOTIFYING_EVENTS, () => notifier.wake());
  app.addHook('onReady', () => notifier.start());
  app.addHook('preClose', () => notifier.stop());
  // Before the transport and the store close: the leases are given up for the next start.
  app.addHook('preClose', () => driver.close());
  // Before the HTTP server closes: it waits for every open connection, and an
  // agent's WebSocket stays open until the agent goes, which could be never.
  app.addHook('preClose', () => transport.close());
  // The store closes after the app: local effects started on the way out end first.
  app.addHook('onClose', () => events.idle());

  // First, so that every answer has them, refusals included.
  addSecurityHeaders(app);

  // Prometheus metrics (docs/metrics.md): made only when enabled.
  const metrics = config.metrics.enabled
    ? new FerryMetrics(
        store,
        config.environments.map((e) => e.name),
        app.log,
      )
    : undefined;
  if (metrics !== undefined) {
    metrics.listen(events);
    // Labelled by the route's pattern, never the raw URL: one series per route, not per id.
    app.addHook('onResponse', async (request, reply) => {
      metrics.observeRequest(
        request.method,
        request.routeOptions.url ?? 'unmatched',
        reply.statusCode,
        reply.elapsedTime / 1000,
      );
    });
  }

  // Every write to a declared route, refusals included, with who and from where.
  const audit = new AuditLog(deps.store.audit, app.log, config.audit.retentionDays);
  app.addHook('onReady', () => audit.start());
  // After the HTTP server closed (every answer made), before the store closes.
  app.addHook('onClose', () => audit.stop());
  auditWrites(app, audit);

  // Every route needs a token unless its declaration says it is public, and a
  // token of a role it declares. The check is on the route the router matched,
  // not on the raw URL, so an encoded path such as /%61pi/v1/apps cannot slip
  // past it. The dashboard's pages and files (outside the API) sign in
  // themselves. A route that is neither (guardDeclaredRoutes lets none be
  // registered) is refused to every caller. A token is a bearer token or the
  // dashboard's session cookie (see authenticateRequest: a session's writes
  // need its CSRF token).
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.url === undefined) return;
    if (request.routeOptions.config.webPage === true) return;
    // Checks its own secret (a scraper's, not a Ferry token): see OWN_GUARD_ROUTES.
    if (request.routeOptions.config.ownGuard !== undefined) return;
    const name = request.routeOptions.config.ferryRoute;
    const route = name === undefined ? undefined : ROUTES[name];
    if (route === undefined) {
      throw new FerryError(
        'E_FORBIDDEN',
        `${request.routeOptions.url} takes no caller: it has no declaration`,
      );
    }
    if (route.roles === 'public') return;
    request.token = await authenticateRequest(request, tokens, sessions);
    authorizeRoute(request.token, route);
  });

  // Only declared routes may be registered, each from its feature's plugin.
  const routeOptions: RoutePluginOptions = {
    checkAnswers:
      deps.checkAnswers ??
      (process.env.NODE_ENV === 'test' || process.env.NODE_ENV === 'development'),
  };
  const wire: ServerWire = deps.wire ?? {
    insecureHttp: false,
    caFingerprint: () => null,
    caExpiresAt: () => null,
  };
  void app.register(healthRoutes(wire), routeOptions);
  void app.register(bundleRoutes(bundles, verdicts, deployments, agents, signingKey), routeOptions);
  void app.register(tokenRoutes(tokens, wire), routeOptions);
  void app.register(environmentRoutes(config.environments, store), routeOptions);
  void app.register(agentRoutes(agents, hostFacts, signingKey, wire), routeOptions);
  void app.register(variableRoutes(variables), routeOptions);
  void app.register(verdictRoutes(verdicts, deployments), routeOptions);
  void app.register(deploymentRoutes(deployments, records, agents), routeOptions);
  void app.register(noteRoutes(notes), routeOptions);
  void app.register(driftRoutes(store), routeOptions);
  void app.register(reportRoutes(reports), routeOptions);
  void app.register(
    eventRoutes(events, store, { heartbeatMs: config.events.heartbeatSeconds * 1000 }),
    routeOptions,
  );
  void app.register(sessionRoutes(sessions), routeOptions);
  void app.register(auditRoutes(audit), routeOptions);
  void app.register(alertRoutes(alerts), routeOptions);
  void app.register(metricsRoutes(config.metrics, metrics));
  void app.register(webhookRoutes(webhooks), routeOptions);
  void app.register(webRoutes(deps.webRoot ?? defaultWebRoot()));

  app.setNotFoundHandler((request, reply) => {
    const error = new FerryError(
      'E_NOT_FOUND',
      `No route ${request.method} ${request.url.split('?')[0]}`,
    );
    return reply.status(error.status).send(error.toBody());
  });

  app.setErrorHandler((err: FastifyError | FerryError, request, reply) => {
    if (err instanceof FerryError) {
      if (err.status >= 500) request.log.error({ err }, err.message);
      return reply.status(err.status).send(err.toBody());
    }
    const status = err.statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      const error = fastifyRefusal(err);
      return reply.status(error.status).send(error.toBody());
    }
    if (isStorageFull(err)) {
      // SQLite's file, PostgreSQL's disk, or a file the server writes: full.
      const full = storageFullError(err, 'the request');
      request.log.error({ err, url: request.url }, full.message);
      return reply.status(full.status).send(full.toBody());
    }
    request.log.error({ err, url: request.url }, 'request failed');
    return reply.status(500).send(new FerryError('E_INTERNAL', 'Internal server error').toBody());
  });

  return { app, tokens, sessions, bundles, agents, deployments, events, notes, audit };

  /** The built-in transport, on this server's own HTTP port. */
  function builtinTransport(): ServerTransport {
    const builtin = new BuiltinServerTransport({
      store: deps.store,
      authenticate: (authorization) => agents.authenticateAgent(authorization),
      credentialCheckMs: config.hosts.connectionCheckSeconds * 1000,
      logger: app.log,
      refusalHeaders: RAW_ANSWER_HEADERS,
    });
    builtin.attach(app.server);
    return builtin;
  }
}

/**
 * What the server does when something changes, as subscriptions on the bus.
 * Waking the rollout driver is harmless to repeat, and must reach the replica
 * that holds the deployment's lease, whichever replica recorded the change:
 * every replica does it (`on`). Catch-up, marking verdicts and cutting a host
 * off check, then act: only the replica that recorded the change does them
 * (`onLocal`), so that two replicas never both do, and neither leaves it to
 * the other. An agent's message is acknowledged once its effects here ran
 * (`AgentService`), so one whose effects a dying replica did not run comes
 * again.
 */
function listenOnBus(
  events: EventBus,
  services: {
    driver: RolloutDriver;
    deployments: DeploymentService;
    catchUp: CatchUp;
    agents: AgentService;
  },
): void {
  const { driver, deployments, catchUp, agents } = services;
  // An install that ended, or a host that came or went, may be what a rollout waits on.
  events.on(['install.state', 'host.connected', 'host.disconnected'], (event) => {
    if (event.kind !== 'install.state') driver.wake();
    else if (isFinalInstall(event.data.state as InstallState)) driver.wake(event.data.installId);
  });
  // A new deployment starts (or waits its turn) on the replica that made it:
  // others find it at their next tick, and the lease is not raced for.
  events.onLocal('deployment.created', () => driver.wake());
  // One that ended, by its driver or by a cancel on any replica: the replica
  // holding its lease lets go, and the next one queued may start.
  events.on(['deployment.state'], (event) => {
    if (
      event.kind === 'deployment.state' &&
      !isActiveDeployment(event.data.state as DeploymentState)
    )
      driver.wake();
  });
  events.onLocal('host.cut-off', () => driver.wake());
  // Revoked here: cut off here, once; other replicas close its connection by their sweep.
  events.onLocal('host.revoked', (notice) =>
    agents.cutOffHost(notice.hostId, 'its token was revoked'),
  );
  // Its verdict (a failed install in QA), or a partial deployment a host completes;
  // again for an agent's report of the end delivered again.
  events.onLocal('install.state', (event) =>
    isFinalInstall(event.data.state as InstallState)
      ? deployments.installFinished(event.data.installId)
      : undefined,
  );
  events.onLocal('install.finished-again', (notice) =>
    deployments.installFinished(notice.installId),
  );
  // A deployment ended: its environment's lock no longer counts (whatever the
  // order its row is deleted in), so hosts it left behind catch up now. If this
  // replica dies before that, nothing redoes it here: each connected host's
  // next facts report (every 30 s, and on connecting) looks again, on whichever
  // replica takes it (`host.reported` below), so a host left behind waits one
  // report at most.
  events.onLocal('deployment.state', (event) =>
    event.env !== null && !isActiveDeployment(event.data.state as DeploymentState)
      ? catchUp.environment(event.env)
      : undefined,
  );
  events.onLocal('host.reported', (notice) => catchUp.host(notice.hostId));
}

/**
 * One of Fastify's own refusals (bad JSON, a body over its limit, an unknown media
 * type, a path parameter too long) as a `FerryError` whose code says which.
 */
function fastifyRefusal(err: FastifyError): FerryError {
  const details = { fastifyCode: err.code };
  switch (err.statusCode) {
    case 413:
      return new FerryError('E_BODY_TOO_LARGE', 'The request body is too large', details);
    case 414:
      return new FerryError(
        'E_URI_TOO_LONG',
        'A path parameter of the URL is longer than 100 characters',
        details,
      );
    case 415:
      return new FerryError(
        'E_UNSUPPORTED_MEDIA_TYPE',
        `The server does not take a body of this Content-Type: ${err.message}`,
        details,
      );
    default:
      return new FerryError('E_BAD_REQUEST', err.message, details);
  }
}
