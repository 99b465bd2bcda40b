import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { API_PREFIX, enrollBodySchema, installCreateBodySchema } from '../../protocol/api.js';
import { hostFactsQuerySchema } from '../../protocol/host-facts.js';
import type { AgentService } from '../agent-service.js';
import type { HostFactsService } from '../host-facts-service.js';
import { tokenOf } from '../request-context.js';
import { requireRole } from '../token-service.js';
import { parseInput } from './parse-input.js';

const installParams = z.object({ id: z.string().min(1) });
const hostsQuery = z.object({ env: z.string().optional() });
const hostParams = z.object({ name: z.string().min(1) });

/** Hosts and installs: enrolment, the host list and facts, and single installs with their logs. */
export function registerAgentRoutes(
  app: FastifyInstance,
  agents: AgentService,
  facts: HostFactsService,
): void {
  app.post(`${API_PREFIX}/agents/enroll`, async (request, reply) => {
    const body = parseInput(enrollBodySchema, request.body, 'body');
    const enrolled = await agents.enroll(tokenOf(request), body);
    request.log.info(
      { host: enrolled.name, hostId: enrolled.hostId, env: body.env },
      'host enrolled',
    );
    return reply.status(201).send(enrolled);
  });

  app.get(`${API_PREFIX}/hosts`, async (request) => {
    const { env } = parseInput(hostsQuery, request.query, 'query');
    return { hosts: await agents.listHosts(env) };
  });

  app.get(`${API_PREFIX}/hosts/:name/facts`, async (request) => {
    const { name } = parseInput(hostParams, request.params, 'path');
    const { history } = parseInput(hostFactsQuerySchema, request.query, 'query');
    return facts.show(name, history);
  });

  app.delete(`${API_PREFIX}/hosts/:name`, async (request, reply) => {
    const token = tokenOf(request);
    requireRole(token, 'admin');
    const { name } = parseInput(hostParams, request.params, 'path');
    const removed = await agents.removeHost(name, token.name);
    request.log.info({ host: name, hostId: removed.id, by: token.name }, 'host removed');
    return reply.status(204).send();
  });

  app.post(`${API_PREFIX}/installs`, async (request, reply) => {
    const token = tokenOf(request);
    requireRole(token, 'admin');
    const body = parseInput(installCreateBodySchema, request.body, 'body');
    return reply.status(201).send(await agents.install(token.name, body));
  });

  app.get(`${API_PREFIX}/installs/:id`, async (request) => {
    const { id } = parseInput(installParams, request.params, 'path');
    return agents.getInstall(id);
  });

  app.get(`${API_PREFIX}/installs/:id/logs`, async (request) => {
    const { id } = parseInput(installParams, request.params, 'path');
    return agents.logs(id);
  });
}
