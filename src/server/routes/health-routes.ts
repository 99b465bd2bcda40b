import { SERVER_VERSION } from '../../version.js';
import type { ServerWire } from '../tls/server-tls.js';
import { routePlugin } from './route-plugin.js';

/** `GET /health`: the one route that answers without a token. */
export function healthRoutes(wire: ServerWire) {
  return routePlugin('health', {
    health: () => ({
      ok: true,
      version: SERVER_VERSION,
      insecureHttp: wire.insecureHttp,
      caExpiresAt: wire.caExpiresAt() ?? undefined,
    }),
  });
}
