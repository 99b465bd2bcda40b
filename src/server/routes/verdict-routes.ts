import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { versionTextSchema } from '../../protocol/fields.js';
import { appNameSchema } from '../../bundle/manifest-schema.js';
import { API_PREFIX, verdictMarkBodySchema } from '../../protocol/api.js';
import { tokenOf } from '../request-context.js';
import type { DeploymentService } from '../deployments/deployment-service.js';
import { requireRole } from '../token-service.js';
import type { VerdictService } from '../verdict-service.js';
import { parseInput } from './parse-input.js';

const bundleParams = z.object({ app: appNameSchema, version: versionTextSchema });

/** Verdicts: mark a bundle passed or failed, and read its history. */
export function registerVerdictRoutes(
  app: FastifyInstance,
  verdicts: VerdictService,
  deployments: Pick<DeploymentService, 'rollbackTargets' | 'afterVerdict'>,
): void {
  app.post(`${API_PREFIX}/apps/:app/bundles/:version/verdict`, async (request, reply) => {
    const token = tokenOf(request);
    const { app: name, version } = parseInput(bundleParams, request.params, 'path');
    const body = parseInput(verdictMarkBodySchema, request.body, 'body');
    requireRole(token, 'qa', 'admin');
    // Refused before anything is recorded when the caller may not roll back there.
    const rollbackEnvs =
      body.verdict === 'failed' && body.rollback
        ? await deployments.rollbackTargets(token, name, version)
        : [];
    const result = await verdicts.mark(token, name, version, body.verdict, body.note ?? null);
    result.deployments = await deployments.afterVerdict(
      token,
      name,
      version,
      body.verdict,
      rollbackEnvs,
    );
    request.log.info(
      {
        bundle: result.bundle,
        verdict: result.verdict,
        previous: result.previous,
        by: result.by,
        deployments: result.deployments.map((d) => d.id),
      },
      'verdict marked',
    );
    return reply.status(201).send(result);
  });

  app.get(`${API_PREFIX}/apps/:app/bundles/:version/verdicts`, async (request) => {
    const { app: name, version } = parseInput(bundleParams, request.params, 'path');
    return { verdicts: await verdicts.history(name, version) };
  });
}
