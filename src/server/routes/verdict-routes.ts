import type { DeploymentService } from '../deployments/deployment-service.js';
import type { VerdictService } from '../verdict-service.js';
import { routePlugin } from './route-plugin.js';

/** Verdicts: mark a bundle passed or failed, and read its history. */
export function verdictRoutes(
  verdicts: VerdictService,
  deployments: Pick<DeploymentService, 'rollbackTargets' | 'afterVerdict'>,
) {
  return routePlugin('verdicts', {
    markVerdict: async ({ token, params: { app: name, version }, body, request }) => {
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
        { confirmMigrations: body.confirmMigrations === true },
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
      return result;
    },

    verdicts: async ({ params: { app: name, version } }) => ({
      verdicts: await verdicts.history(name, version),
    }),
  });
}
