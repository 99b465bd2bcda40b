import { z } from 'zod';
import { appNameSchema } from '../bundle/manifest-schema.js';
import {
  appStatusSchema,
  deployBodySchema,
  deploymentListQuerySchema,
  deploymentLogsSchema,
  deploymentRecordSchema,
  historyEntrySchema,
  promoteBodySchema,
  rollbackBodySchema,
} from './deployment-api.js';
import { countTextSchema } from './fields.js';
import { declareRoute, type RouteDeclaration } from './route-declaration.js';
import { deploymentParams } from './agent-routes.js';
import { appParams, PEOPLE } from './route-parts.js';

const historyQuery = z.strictObject({ limit: countTextSchema(1, 1000).optional() });

/**
 * The routes of deployments: starting one (deploy, promote, roll back),
 * steering it, its logs; and what runs where and what happened (status,
 * history).
 */
export const DEPLOYMENT_ROUTES = {
  deploy: declareRoute({
    feature: 'deployments',
    method: 'POST',
    path: '/deployments',
    roles: ['admin', 'deployer'],
    summary: 'Deploy a bundle to an environment; `E_DEPLOY_LOCKED` while one is active there.',
    note: "A protected environment takes only an admin; a deployer's token bound to an environment deploys only there.",
    body: deployBodySchema,
    answer: deploymentRecordSchema,
    statuses: [201],
    audit: {
      target: { app: 'body.app', version: 'body.version', env: 'body.env', id: 'answer.id' },
    },
  }),
  promote: declareRoute({
    feature: 'deployments',
    method: 'POST',
    path: '/promotions',
    roles: ['admin', 'deployer'],
    summary: 'Deploy a bundle to the environment after the last one where it landed.',
    note: 'The environment may require a verdict (`passed` for prod).',
    body: promoteBodySchema,
    answer: deploymentRecordSchema,
    statuses: [201],
    audit: {
      target: { app: 'body.app', version: 'body.version', env: 'answer.env', id: 'answer.id' },
    },
  }),
  rollback: declareRoute({
    feature: 'deployments',
    method: 'POST',
    path: '/rollbacks',
    roles: ['admin', 'deployer'],
    summary: 'Roll an environment back to the release before, or to a given version.',
    body: rollbackBodySchema,
    answer: deploymentRecordSchema,
    statuses: [201],
    audit: {
      target: {
        app: 'body.app',
        version: ['answer.version', 'body.to'],
        env: 'body.env',
        id: 'answer.id',
      },
    },
  }),
  deployments: declareRoute({
    feature: 'deployments',
    method: 'GET',
    path: '/deployments',
    roles: PEOPLE,
    summary: 'Deployments, newest first, of an app, an environment, or all.',
    query: deploymentListQuerySchema,
    answer: z.object({ deployments: z.array(deploymentRecordSchema) }),
    statuses: [200],
  }),
  deployment: declareRoute({
    feature: 'deployments',
    method: 'GET',
    path: '/deployments/:id',
    roles: PEOPLE,
    summary: 'One deployment, with each host install and the step it is at.',
    params: deploymentParams,
    answer: deploymentRecordSchema,
    statuses: [200],
  }),
  cancelDeployment: declareRoute({
    feature: 'deployments',
    method: 'POST',
    path: '/deployments/:id/cancel',
    roles: ['admin', 'deployer'],
    summary: 'Cancel a deployment: no install of it starts from then on.',
    params: deploymentParams,
    answer: deploymentRecordSchema,
    statuses: [200],
    audit: {
      target: { app: 'answer.app', version: 'answer.version', env: 'answer.env', id: 'params.id' },
    },
  }),
  resumeDeployment: declareRoute({
    feature: 'deployments',
    method: 'POST',
    path: '/deployments/:id/resume',
    roles: ['admin', 'deployer'],
    summary:
      'Resume a deployment paused after a bad bake: it goes on as it is (the next batch, or its end).',
    params: deploymentParams,
    answer: deploymentRecordSchema,
    statuses: [200],
    audit: {
      target: { app: 'answer.app', version: 'answer.version', env: 'answer.env', id: 'params.id' },
    },
  }),
  rollbackBakingDeployment: declareRoute({
    feature: 'deployments',
    method: 'POST',
    path: '/deployments/:id/rollback',
    roles: ['admin', 'deployer'],
    summary:
      'Roll back a deployment that is baking or paused: the hosts done go back to the release before.',
    params: deploymentParams,
    answer: deploymentRecordSchema,
    statuses: [200],
    audit: {
      target: { app: 'answer.app', version: 'answer.version', env: 'answer.env', id: 'params.id' },
    },
  }),
  deploymentLogs: declareRoute({
    feature: 'deployments',
    method: 'GET',
    path: '/deployments/:id/logs',
    roles: PEOPLE,
    summary: "Each install's step output, host by host, or of one host.",
    params: deploymentParams,
    query: z.strictObject({ host: z.string().min(1).max(100).optional() }),
    answer: deploymentLogsSchema,
    statuses: [200],
  }),
  status: declareRoute({
    feature: 'deployments',
    method: 'GET',
    path: '/status',
    roles: PEOPLE,
    summary: 'What runs where: per app and environment, the desired release and each host.',
    query: z.strictObject({ app: appNameSchema.optional() }),
    answer: z.object({ apps: z.array(appStatusSchema) }),
    statuses: [200],
  }),
  appHistory: declareRoute({
    feature: 'deployments',
    method: 'GET',
    path: '/apps/:app/history',
    roles: PEOPLE,
    summary: "An app's history: pushes, deployments, verdicts, installs, newest first.",
    params: appParams,
    query: historyQuery,
    answer: z.object({ history: z.array(historyEntrySchema) }),
    statuses: [200],
  }),
  history: declareRoute({
    feature: 'deployments',
    method: 'GET',
    path: '/history',
    roles: PEOPLE,
    summary: "Every app's history and the server's own: variables, hosts, tokens.",
    query: historyQuery,
    answer: z.object({ history: z.array(historyEntrySchema) }),
    statuses: [200],
  }),
} as const satisfies Record<string, RouteDeclaration>;
