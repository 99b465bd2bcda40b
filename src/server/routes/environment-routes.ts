import type { EnvironmentRecord } from '../../protocol/api.js';
import type { Store } from '../../store/store.js';
import { type EnvironmentConfig, isProtected } from '../environment-config.js';
import { routePlugin } from './route-plugin.js';

/** `GET /envs`: the lifecycle in order, each environment's settings and host counts. */
export function environmentRoutes(environments: readonly EnvironmentConfig[], store: Store) {
  return routePlugin('environments', {
    environments: async () => {
      const hosts = await store.hosts.list();
      const records: EnvironmentRecord[] = environments.map((env, position) => ({
        ...env,
        protected: isProtected(env),
        position,
        hosts: hosts.filter((h) => h.env === env.name).length,
        connectedHosts: hosts.filter((h) => h.env === env.name && h.connected).length,
      }));
      return { environments: records };
    },
  });
}
