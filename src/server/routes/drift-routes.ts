import type { Store } from '../../store/store.js';
import { gatherDrift } from '../reports/gather-drift.js';
import { routePlugin } from './route-plugin.js';

/** `GET /drift`: what differs now between the hosts of each environment. */
export function driftRoutes(store: Store) {
  return routePlugin('drift', {
    drift: ({ query }) => gatherDrift(store, query),
  });
}
