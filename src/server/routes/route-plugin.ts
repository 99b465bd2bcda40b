import type {
  FastifyInstance,
  FastifyPluginCallback,
  FastifyReply,
  FastifyRequest,
  RouteOptions,
} from 'fastify';
import { API_PREFIX } from '../../protocol/api.js';
import { FerryError } from '../../protocol/errors.js';
import {
  type AnswerInputOf,
  type BodyOf,
  isStreamContent,
  jsonSchemaOf,
  type ParamsOf,
  type QueryOf,
  type RouteDeclaration,
  type RouteFeature,
} from '../../protocol/route-declaration.js';
import { type Route, type RouteName, ROUTES } from '../../protocol/routes.js';
import type { StoredToken } from '../../store/store.js';
import { tokenOf } from '../request-context.js';
import { requireRole } from '../token-service.js';
import { parseInput } from './parse-input.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The declaration a route was registered from (`protocol/routes.ts`). */
    ferryRoute?: RouteName;
    /**
     * A page or file of the dashboard (`web-routes.ts`): outside the API, it
     * needs no token (the page signs in) and no declaration.
     */
    webPage?: true;
    /**
     * A route outside the API that checks its caller itself, with a secret of
     * its own rather than a Ferry token: only those in `OWN_GUARD_ROUTES`.
     */
    ownGuard?: keyof typeof OWN_GUARD_ROUTES;
  }
}

/**
 * The routes outside the API that take no Ferry token and guard themselves,
 * each with how. As reviewed: `REVIEWED_OWN_GUARDS` in
 * test/helpers/reviewed-roles.ts must say the same, and `route-plugin.test.ts`
 * holds the built server's routes to it. `GET /metrics` is scraped by Prometheus, which carries
 * one fixed bearer secret of its own, not a person's or an agent's token; it
 * sits at the path scrapers expect, outside `/api/v1`, and is not in
 * `docs/api.md`.
 */
export const OWN_GUARD_ROUTES = {
  metrics: {
    route: 'GET /metrics',
    guard:
      '404 unless metrics.enabled; then Authorization: Bearer <metrics.token> (compared in constant time), or anyone when metrics.public',
  },
} as const;

/** What a route's handler gets: its input parsed with the declared schemas, and the token. */
export interface RouteContext<R extends RouteDeclaration> {
  params: ParamsOf<R>;
  query: QueryOf<R>;
  /** The parsed JSON body; for a streamed body, the request's raw stream. */
  body: BodyOf<R>;
  /** The token that authenticated the call (not for a public route). */
  readonly token: StoredToken;
  request: FastifyRequest;
  reply: FastifyReply;
}

/**
 * A route's handler: returns its JSON answer (the status is the declared one
 * unless it sets another of them), or for bytes and empty answers the reply it
 * sent.
 */
export type RouteHandler<R extends RouteDeclaration> = (
  context: RouteContext<R>,
) => Promise<HandlerResult<R>> | HandlerResult<R>;
type HandlerResult<R extends RouteDeclaration> = R['answer'] extends null
  ? void
  : R['answer'] extends { stream: true }
    ? FastifyReply
    : AnswerInputOf<R>;

/** One handler for each route declared for a feature, and no other. */
export type FeatureHandlers<F extends RouteFeature> = {
  [N in RouteName as Route<N>['feature'] extends F ? N : never]: RouteHandler<Route<N>>;
};

/** How the routes check themselves. */
export interface RoutePluginOptions {
  /**
   * Check each JSON answer against its declared schema, and answer `E_INTERNAL`
   * when it does not match (tests and development): a route that answers what
   * its declaration does not say is a bug to find before a client does.
   */
  checkAnswers?: boolean;
}

/**
 * The Fastify plugin of one feature: registers each route declared for it with
 * the handler given, parsing params, query and body with the declared schemas
 * (a mismatch is `E_BAD_REQUEST` naming each field). Handlers exist only for
 * declared routes, and `guardDeclaredRoutes` refuses any other route under the
 * API prefix.
 *
 * @example
 *   app.register(routePlugin('tokens', { whoami: ({ token }) => ({ ... }), ... }));
 */
export function routePlugin<F extends RouteFeature>(
  feature: F,
  handlers: FeatureHandlers<F>,
): FastifyPluginCallback<RoutePluginOptions> {
  return (app, options, done) => {
    const table = handlers as unknown as Record<string, RouteHandler<RouteDeclaration>>;
    for (const [name, handler] of Object.entries(table)) {
      const route = (ROUTES as Record<string, RouteDeclaration>)[name];
      if (route?.feature !== feature) {
        done(new Error(`route ${name} is not declared for the ${feature} feature`));
        return;
      }
      register(app, name as RouteName, route, handler, options.checkAnswers ?? false);
    }
    done();
  };
}

function register(
  app: FastifyInstance,
  name: RouteName,
  route: RouteDeclaration,
  handler: RouteHandler<RouteDeclaration>,
  checkAnswers: boolean,
): void {
  if (isStreamContent(route.body)) {
    // The bytes arrive as a raw stream; the handler reads it itself, so Fastify must not.
    app.addContentTypeParser([...route.body.contentTypes], (_request, payload, done) =>
      done(null, payload),
    );
  }
  const answerSchema = jsonSchemaOf(route.answer);
  app.route({
    method: route.method,
    url: `${API_PREFIX}${route.path}`,
    config: { ferryRoute: name },
    handler: async (request, reply) => {
      void reply.status(route.statuses[0]);
      const context: RouteContext<RouteDeclaration> = {
        params: route.params ? parseInput(route.params, request.params, 'path') : undefined,
        query: route.query ? parseInput(route.query, request.query, 'query') : undefined,
        body: parseBody(route, request.body),
        get token() {
          return tokenOf(request);
        },
        request,
        reply,
      };
      request.ferryInput = { params: context.params, query: context.query, body: context.body };
      const answer = await handler(context);
      request.ferryAnswer = answer;
      if (route.answer === null) return reply.send();
      if (answerSchema === undefined) return reply;
      if (checkAnswers) checkAnswer(name, route, reply.statusCode, answer);
      return answer;
    },
  });
}

function parseBody(route: RouteDeclaration, body: unknown): unknown {
  if (route.body === undefined) return undefined;
  if (isStreamContent(route.body)) return body;
  return parseInput(route.body, body, 'body');
}

/** A JSON answer that its declaration does not describe: a server bug, not the caller's. */
function checkAnswer(name: string, route: RouteDeclaration, status: number, answer: unknown): void {
  const schema = jsonSchemaOf(route.answer);
  const problems: string[] = [];
  if (!route.statuses.includes(status)) problems.push(`status ${status} is not declared`);
  const result = schema?.safeParse(answer);
  if (result && !result.success) {
    problems.push(...result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  if (problems.length > 0) {
    throw new FerryError(
      'E_INTERNAL',
      `The answer of ${route.method} ${route.path} (${name}) is not what it declares: ${problems.join('; ')}`,
      { problems },
    );
  }
}

/**
 * Refuses, at start-up, any route that was not registered from a declaration,
 * but the dashboard's pages and files (`webPage`, outside the API): the API is
 * what `protocol/routes.ts` says, and nothing else. A route anywhere else,
 * declared nowhere, would say nobody's role. Added before any route is
 * registered, it sees them all.
 */
export function guardDeclaredRoutes(app: FastifyInstance): void {
  app.addHook('onRoute', (options: RouteOptions) => {
    const url = options.url;
    const underApi = url.startsWith(`${API_PREFIX}/`) || url === API_PREFIX;
    const webPage = options.config?.webPage === true;
    if (webPage && (underApi || url.startsWith('/api/'))) {
      throw new Error(`${url} is a dashboard route under the API prefix: the API is declared`);
    }
    if (webPage) return;
    const ownGuard = options.config?.ownGuard;
    if (ownGuard !== undefined) {
      const methods = [options.method].flat().filter((m) => m !== 'HEAD');
      if (methods.some((m) => `${m} ${url}` !== OWN_GUARD_ROUTES[ownGuard].route)) {
        throw new Error(
          `${methods.join(',')} ${url} is not the route reviewed for its own guard (${ownGuard}: ${OWN_GUARD_ROUTES[ownGuard].route})`,
        );
      }
      return;
    }
    const name = options.config?.ferryRoute;
    const declared = name === undefined ? undefined : ROUTES[name];
    const methods = [options.method].flat();
    const matches =
      declared !== undefined &&
      `${API_PREFIX}${declared.path}` === url &&
      methods.every((m) => m === declared.method || (m === 'HEAD' && declared.method === 'GET'));
    if (!matches) {
      throw new Error(
        `${methods.join(',')} ${url} has no declaration in protocol/routes.ts: register it with routePlugin (a dashboard page outside the API: config.webPage)`,
      );
    }
  });
}

/**
 * Whether a token may call a route, by the roles the route declares. An agent
 * is told that its token speaks only for its host.
 */
export function authorizeRoute(token: StoredToken, route: RouteDeclaration): void {
  if (route.roles === 'public' || route.roles.includes(token.role)) return;
  const needs = [...route.roles];
  if (route.forbidden !== undefined) {
    throw new FerryError('E_FORBIDDEN', route.forbidden, { needs, has: token.role });
  }
  if (token.role === 'agent') {
    throw new FerryError(
      'E_FORBIDDEN',
      "An agent token speaks only for its host: this call needs a person's token",
      { needs, has: 'agent' },
    );
  }
  requireRole(token, ...needs);
}
