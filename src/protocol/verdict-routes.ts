import { z } from 'zod';
import { verdictMarkBodySchema, verdictMarkResultSchema, verdictRecordSchema } from './api.js';
import { declareRoute, type RouteDeclaration } from './route-declaration.js';
import { bundleParams } from './agent-routes.js';
import { PEOPLE } from './route-parts.js';

/** The routes of a bundle's verdicts: marking one, and its changes. */
export const VERDICT_ROUTES = {
  markVerdict: declareRoute({
    feature: 'verdicts',
    method: 'POST',
    path: '/apps/:app/bundles/:version/verdict',
    roles: ['qa', 'admin'],
    summary:
      'Mark a bundle passed or failed; the answer says where it is live and what the mark started.',
    params: bundleParams,
    body: verdictMarkBodySchema,
    answer: verdictMarkResultSchema,
    statuses: [201],
    audit: { target: { app: 'params.app', version: 'params.version', verdict: 'body.verdict' } },
  }),
  verdicts: declareRoute({
    feature: 'verdicts',
    method: 'GET',
    path: '/apps/:app/bundles/:version/verdicts',
    roles: PEOPLE,
    summary: "A bundle's verdict changes, newest first.",
    params: bundleParams,
    answer: z.object({ verdicts: z.array(verdictRecordSchema) }),
    statuses: [200],
  }),
} as const satisfies Record<string, RouteDeclaration>;
