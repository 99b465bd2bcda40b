import { FerryError } from '../../protocol/errors.js';
import { refuseCrossSite } from '../request-auth.js';
import { clearedSessionCookie, sessionCookie } from '../session-cookie.js';
import { sessionAnswer, type SessionService } from '../session-service.js';
import { routePlugin } from './route-plugin.js';

/**
 * The dashboard's sign-in: a person's token for a session cookie, the page's
 * question "who am I, and what is my CSRF token", and sign-out.
 */
export function sessionRoutes(sessions: SessionService) {
  return routePlugin('sessions', {
    startSession: async ({ body, request, reply }) => {
      // Another site's page must not sign a browser in as someone else (login CSRF).
      refuseCrossSite(request);
      const { id, session } = await sessions.start(body.token);
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
      if (!request.session) {
        throw new FerryError(
          'E_AUTH_REQUIRED',
          'This call answers about a signed-in browser session: this request has no session cookie',
        );
      }
      return sessionAnswer(request.session);
    },

    endSession: async ({ request, reply }) => {
      if (request.session) {
        await sessions.end(request.session);
        request.log.info({ tokenId: request.session.token.id }, 'session ended');
      }
      void reply.header('set-cookie', clearedSessionCookie(request.protocol === 'https'));
    },
  });
}
