import { SERVER_VERSION } from '../../version.js';
import { routePlugin } from './route-plugin.js';

/** `GET /health`: the one route that answers without a token. */
export function healthRoutes() {
  return routePlugin('health', {
    health: () => ({ ok: true, version: SERVER_VERSION }),
  });
}
