import type { FastifyInstance } from 'fastify';
import { API_PREFIX, type EnvironmentRecord } from '../../protocol/api.js';
import type { Store } from '../../store/store.js';
import { type EnvironmentConfig, isProtected } from '../environment-config.js';

/** `GET /envs`: the lifecycle in order, each environment's settings and host counts. */
export function registerEnvironmentRoutes(
  app: FastifyInstance,
  environments: readonly EnvironmentConfig[],
  store: Store,
): void {
  app.get(`${API_PREFIX}/envs`, async () => {
    const hosts = await store.listHosts();
    const records: EnvironmentRecord[] = environments.map((env, position) => ({
      ...env,
      protected: isProtected(env),
      position,
      hosts: hosts.filter((h) => h.env === env.name).length,
      connectedHosts: hosts.filter((h) => h.env === env.name && h.connected).length,
    }));
    return { environments: records };
  });
}
