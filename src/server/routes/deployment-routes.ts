import type { DeploymentRecord } from '../../protocol/deployment-api.js';
import type { AgentService } from '../agent-service.js';
import type { Caller } from '../deployments/deploy-authorization.js';
import type { DeploymentService } from '../deployments/deployment-service.js';
import type { RecordsService } from '../records-service.js';
import type { FastifyRequest } from 'fastify';
import { routePlugin } from './route-plugin.js';

/**
 * The lifecycle: deployments (create, list, follow, cancel, logs), promotion,
 * rollback, and the records (`status`, `history`). Roles per environment are
 * checked in the deployment service.
 */
export function deploymentRoutes(
  deployments: DeploymentService,
  records: RecordsService,
  agents: AgentService,
) {
  /** Deploy, promote and roll back each create a deployment: one log line says who started what. */
  async function created(
    request: FastifyRequest,
    caller: Caller & { name: string },
    what: string,
    create: Promise<DeploymentRecord>,
  ): Promise<DeploymentRecord> {
    const deployment = await create;
    const { id: deploymentId, app: appName, version, env } = deployment;
    request.log.info({ deploymentId, app: appName, version, env, by: caller.name }, what);
    return deployment;
  }

  return routePlugin('deployments', {
    deploy: ({ token, body, request }) =>
      created(request, token, 'deployment created', deployments.deploy(token, body)),
    promote: ({ token, body, request }) =>
      created(request, token, 'promotion created', deployments.promote(token, body)),
    rollback: ({ token, body, request }) =>
      created(request, token, 'rollback created', deployments.rollback(token, body)),

    deployments: async ({ query }) => ({ deployments: await deployments.list(query) }),

    deployment: ({ params: { id } }) => deployments.get(id),

    cancelDeployment: async ({ token, params: { id }, request }) => {
      const deployment = await deployments.cancel(token, id);
      request.log.info({ deploymentId: id, by: token.name }, 'deployment cancelled');
      return deployment;
    },

    resumeDeployment: async ({ token, params: { id }, request }) => {
      const deployment = await deployments.resume(token, id);
      request.log.info({ deploymentId: id, by: token.name }, 'deployment resumed after its bake');
      return deployment;
    },

    rollbackBakingDeployment: async ({ token, params: { id }, request }) => {
      const deployment = await deployments.rollBackBaking(token, id);
      request.log.info(
        { deploymentId: id, by: token.name },
        'deployment rolled back during its bake',
      );
      return deployment;
    },

    deploymentLogs: ({ params: { id }, query: { host } }) => deployments.logs(id, host),

    status: async ({ query: { app: name } }) => ({ apps: await records.status(name) }),

    appHistory: async ({ params: { app: name }, query: { limit } }) => ({
      history: await records.history(name, limit),
    }),

    // Every app's history, and the server's own: variables, hosts, tokens.
    history: async ({ query: { limit } }) => ({
      history: await records.history(undefined, limit),
    }),

    // The agent's question before a job it has not seen: is it still wanted?
    installWanted: ({ token, params: { id } }) => agents.wanted(token, id),
  });
}
