import type { FastifyPluginCallback } from 'fastify';
import { FerryError } from '../../protocol/errors.js';
import { refuseCrossSite } from '../request-auth.js';
import { clearedSessionCookie, readSessionCookie, sessionCookie } from '../session-cookie.js';
import { sessionAnswer, type SessionService } from '../session-service.js';
import { routePlugin, type RoutePluginOptions } from './route-plugin.js';

/**
 * The dashboard's sign-in: a person's token for a session cookie, the page's
 * question "who am I, and what is my CSRF token", and sign-out.
 */
export function sessionRoutes(sessions: SessionService): FastifyPluginCallback<RoutePluginOptions> {
  const routes = routePlugin('sessions', {
    startSession: async ({ body, request, reply }) => {
      // Another site's page must not sign a browser in as someone else (login CSRF).
      refuseCrossSite(request);
      const { id, session } = await sessions.start(body.token);
      // The token signed in with is who made this request (the audit log's "who").
      request.token = session.token;
      // Signing in again replaces the browser's cookie: the session of the old
      // one ends too, or it would stay valid, unseen, for the rest of its TTL.
      const previous = readSessionCookie(request.headers.cookie);
      if (previous !== undefined && (await sessions.endById(previous)))
        request.log.info('the session of the cookie signed in over ended');
      void reply.header(
        'set-cookie',
        sessionCookie(id, {
          maxAgeSeconds: sessions.ttlSeconds,
          secure: request.protocol === 'https',
        }),
      );
      request.log.info(
        { tokenId: session.token.id, name: session.token.name, role: session.token.role },
        'session started',
      );
      return sessionAnswer(session);
    },

    session: ({ request }) => {
      if (!request.session) throw noSession('answers about');
      return sessionAnswer(request.session);
    },

    endSession: async ({ request }) => {
      if (request.session) {
        await sessions.end(request.session);
        request.log.info({ tokenId: request.session.token.id }, 'session ended');
        return;
      }
      // A bearer call: it signs out the session of the cookie it carries, if
      // any (the token proves more than the cookie would); it has none itself.
      const id = readSessionCookie(request.headers.cookie);
      if (id === undefined) throw noSession('ends');
      if (await sessions.endById(id)) request.log.info('session ended by a bearer call');
    },
  });
  return (app, options, done) => {
    // Sign-out clears the cookie also when its session had ended already
    // (expired, revoked, signed out in another tab: the 401 of the auth hook,
    // which runs before any handler), or the dead cookie would stay in the
    // browser. Not on a refusal of a live session (a write without the CSRF
    // token): another site's page must not be able to sign anyone out.
    app.addHook('onSend', (request, reply, payload, next) => {
      const status = reply.statusCode;
      if (
        request.routeOptions.config.ferryRoute === 'endSession' &&
        (status === 204 || status === 401)
      )
        void reply.header('set-cookie', clearedSessionCookie(request.protocol === 'https'));
      next(null, payload);
    });
    routes(app, options, done);
  };
}

/** The 401 of a session route called with a bearer token and no session cookie. */
function noSession(what: string): FerryError {
  return new FerryError(
    'E_AUTH_REQUIRED',
    `This call ${what} a dashboard session, and this request has no session cookie: a bearer token has no session (revoke the token to end its sessions)`,
  );
}
