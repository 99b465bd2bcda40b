import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { countTextSchema } from '../../protocol/fields.js';
import { appNameSchema } from '../../bundle/manifest-schema.js';
import { API_PREFIX } from '../../protocol/api.js';
import {
  deployBodySchema,
  deploymentListQuerySchema,
  promoteBodySchema,
  rollbackBodySchema,
  type DeploymentRecord,
} from '../../protocol/deployment-api.js';
import type { AgentService } from '../agent-service.js';
import type { Caller, DeploymentService } from '../deployments/deployment-service.js';
import type { RecordsService } from '../records-service.js';
import { tokenOf } from '../request-context.js';
import { parseInput } from './parse-input.js';

const idParams = z.object({ id: z.string().min(1).max(100) });
const logsQuery = z.strictObject({ host: z.string().min(1).max(100).optional() });
const statusQuery = z.strictObject({ app: appNameSchema.optional() });
const appParams = z.object({ app: appNameSchema });
const historyQuery = z.strictObject({
  limit: countTextSchema(1, 1000).optional(),
});

/**
 * The lifecycle: deployments (create, list, follow, cancel, logs), promotion,
 * rollback, and the records (`status`, `history`). Roles are checked in the
 * deployment service, per environment.
 */
export function registerDeploymentRoutes(
  app: FastifyInstance,
  deployments: DeploymentService,
  records: RecordsService,
  agents: AgentService,
): void {
  /**
   * Deploy, promote and roll back each create a deployment: 201 with its record,
   * and one log line saying who started what.
   */
  function creates<Body>(
    route: string,
    bodySchema: z.ZodType<Body>,
    create: (caller: Caller, body: Body) => Promise<DeploymentRecord>,
    what: string,
  ): void {
    app.post(`${API_PREFIX}/${route}`, async (request, reply) => {
      const token = tokenOf(request);
      const body = parseInput(bodySchema, request.body, 'body');
      const deployment = await create(token, body);
      const { id: deploymentId, app: appName, version, env } = deployment;
      request.log.info({ deploymentId, app: appName, version, env, by: token.name }, what);
      return reply.status(201).send(deployment);
    });
  }

  creates(
    'deployments',
    deployBodySchema,
    (token, body) => deployments.deploy(token, body),
    'deployment created',
  );
  creates(
    'promotions',
    promoteBodySchema,
    (token, body) => deployments.promote(token, body),
    'promotion created',
  );
  creates(
    'rollbacks',
    rollbackBodySchema,
    (token, body) => deployments.rollback(token, body),
    'rollback created',
  );

  app.get(`${API_PREFIX}/deployments`, async (request) => {
    const query = parseInput(deploymentListQuerySchema, request.query, 'query');
    return { deployments: await deployments.list(query) };
  });

  app.get(`${API_PREFIX}/deployments/:id`, async (request) => {
    const { id } = parseInput(idParams, request.params, 'path');
    return deployments.get(id);
  });

  app.post(`${API_PREFIX}/deployments/:id/cancel`, async (request) => {
    const token = tokenOf(request);
    const { id } = parseInput(idParams, request.params, 'path');
    const deployment = await deployments.cancel(token, id);
    request.log.info({ deploymentId: id, by: token.name }, 'deployment cancelled');
    return deployment;
  });

  app.get(`${API_PREFIX}/deployments/:id/logs`, async (request) => {
    const { id } = parseInput(idParams, request.params, 'path');
    const { host } = parseInput(logsQuery, request.query, 'query');
    return deployments.logs(id, host);
  });

  app.get(`${API_PREFIX}/status`, async (request) => {
    const { app: name } = parseInput(statusQuery, request.query, 'query');
    return { apps: await records.status(name) };
  });

  app.get(`${API_PREFIX}/apps/:app/history`, async (request) => {
    const { app: name } = parseInput(appParams, request.params, 'path');
    const { limit } = parseInput(historyQuery, request.query, 'query');
    return { history: await records.history(name, limit) };
  });

  // Every app's history, and the server's own: variables, hosts, tokens.
  app.get(`${API_PREFIX}/history`, async (request) => {
    const { limit } = parseInput(historyQuery, request.query, 'query');
    return { history: await records.history(undefined, limit) };
  });

  // The agent's question before a job it has not seen: is it still wanted?
  app.get(`${API_PREFIX}/agent/installs/:id`, async (request) => {
    const { id } = parseInput(idParams, request.params, 'path');
    return agents.wanted(tokenOf(request), id);
  });
}
