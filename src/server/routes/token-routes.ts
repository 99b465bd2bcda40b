import { SERVER_VERSION } from '../../version.js';
import type { TokenService } from '../token-service.js';
import type { ServerWire } from '../tls/server-tls.js';
import { routePlugin } from './route-plugin.js';

/** Token routes: create, list and revoke (admin only), and `whoami` for any token. */
export function tokenRoutes(tokens: TokenService, wire: ServerWire) {
  return routePlugin('tokens', {
    whoami: ({ token: { id, name, role, env } }) => ({
      id,
      name,
      role,
      env,
      serverVersion: SERVER_VERSION,
    }),

    createToken: async ({ token, body, request }) => {
      const created = await tokens.create(body, token.name);
      request.log.info({ id: created.id, role: created.role, by: token.name }, 'token created');
      // For the join string the CLI prints: the CA a new host or client pins.
      return { ...created, caFingerprint: wire.caFingerprint() };
    },

    tokens: async ({ query }) => ({ tokens: await tokens.list({ all: query.all ?? false }) }),

    revokeToken: async ({ token, params: { id } }) => {
      await tokens.revoke(id, token.name);
    },
  });
}
