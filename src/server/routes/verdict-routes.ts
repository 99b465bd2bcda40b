import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { appNameSchema } from '../../bundle/manifest-schema.js';
import { API_PREFIX, verdictMarkBodySchema } from '../../protocol/api.js';
import { tokenOf } from '../request-context.js';
import type { VerdictService } from '../verdict-service.js';
import { parseInput } from './parse-input.js';

const bundleParams = z.object({ app: appNameSchema, version: z.coerce.number().int().positive() });

/** Verdicts: mark a bundle passed or failed, and read its history. */
export function registerVerdictRoutes(app: FastifyInstance, verdicts: VerdictService): void {
  app.post(`${API_PREFIX}/apps/:app/bundles/:version/verdict`, async (request, reply) => {
    const token = tokenOf(request);
    const { app: name, version } = parseInput(bundleParams, request.params, 'path');
    const body = parseInput(verdictMarkBodySchema, request.body, 'body');
    const result = await verdicts.mark(token, name, version, body.verdict, body.note ?? null);
    request.log.info(
      { bundle: result.bundle, verdict: result.verdict, previous: result.previous, by: result.by },
      'verdict marked',
    );
    return reply.status(201).send(result);
  });

  app.get(`${API_PREFIX}/apps/:app/bundles/:version/verdicts`, async (request) => {
    const { app: name, version } = parseInput(bundleParams, request.params, 'path');
    return { verdicts: await verdicts.history(name, version) };
  });
}
