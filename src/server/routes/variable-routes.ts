import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  API_PREFIX,
  variableNameSchema,
  variableScopeQuerySchema,
  variableSetBodySchema,
} from '../../protocol/api.js';
import { tokenOf } from '../request-context.js';
import { requireRole } from '../token-service.js';
import type { VariableService } from '../variable-service.js';
import { parseInput } from './parse-input.js';

const variableParams = z.object({ name: variableNameSchema });

/**
 * Variables: set (PUT or POST), list, unset. Values are never logged, and a
 * secret's value never leaves the server in an answer.
 */
export function registerVariableRoutes(app: FastifyInstance, variables: VariableService): void {
  const set = async (request: FastifyRequest, reply: FastifyReply) => {
    const token = tokenOf(request);
    requireRole(token, 'admin', 'deployer');
    const body = parseInput(variableSetBodySchema, request.body, 'body');
    const result = await variables.set(token, body);
    const { name, scope, target, secret } = result.variable;
    request.log.info({ name, scope, target, secret, by: token.name }, 'variable set');
    return reply.status(result.created ? 201 : 200).send(result);
  };
  app.put(`${API_PREFIX}/vars`, set);
  app.post(`${API_PREFIX}/vars`, set);

  app.get(`${API_PREFIX}/vars`, async (request) => {
    requireRole(tokenOf(request), 'admin', 'deployer', 'qa');
    const query = parseInput(variableScopeQuerySchema, request.query, 'query');
    return { variables: await variables.list(query) };
  });

  app.delete(`${API_PREFIX}/vars/:name`, async (request, reply) => {
    const token = tokenOf(request);
    requireRole(token, 'admin', 'deployer');
    const { name } = parseInput(variableParams, request.params, 'path');
    const query = parseInput(variableScopeQuerySchema, request.query, 'query');
    await variables.unset(token, name, query);
    request.log.info({ name, ...query, by: token.name }, 'variable unset');
    return reply.status(204).send();
  });
}
