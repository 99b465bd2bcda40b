import type { AlertService } from '../alerts/alert-service.js';
import { routePlugin } from './route-plugin.js';

/** `GET /alerts` (people): alerts, newest first, filtered by open, environment, app and host. */
export function alertRoutes(alerts: AlertService) {
  return routePlugin('alerts', {
    alerts: async ({ query }) => ({ alerts: await alerts.list(query) }),
  });
}
