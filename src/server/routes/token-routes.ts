import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { API_PREFIX, tokenCreateBodySchema } from '../../protocol/api.js';
import { SERVER_VERSION } from '../../version.js';
import { tokenOf } from '../request-context.js';
import { requireRole, type TokenService } from '../token-service.js';
import { parseInput } from './parse-input.js';

/** Token routes: create, list and revoke (admin only), and `whoami` for any token. */
export function registerTokenRoutes(app: FastifyInstance, tokens: TokenService): void {
  app.get(`${API_PREFIX}/whoami`, (request) => {
    const { id, name, role, env } = tokenOf(request);
    return { id, name, role, env, serverVersion: SERVER_VERSION };
  });

  app.post(`${API_PREFIX}/tokens`, async (request, reply) => {
    const token = tokenOf(request);
    requireRole(token, 'admin');
    const body = parseInput(tokenCreateBodySchema, request.body, 'body');
    const created = await tokens.create(body, token.name);
    request.log.info({ id: created.id, role: created.role, by: token.name }, 'token created');
    return reply.status(201).send(created);
  });

  app.get(`${API_PREFIX}/tokens`, async (request) => {
    requireRole(tokenOf(request), 'admin');
    return { tokens: await tokens.list() };
  });

  app.delete(`${API_PREFIX}/tokens/:id`, async (request, reply) => {
    const token = tokenOf(request);
    requireRole(token, 'admin');
    const { id } = parseInput(z.object({ id: z.string().min(1) }), request.params, 'path');
    await tokens.revoke(id, token.name);
    return reply.status(204).send();
  });
}
