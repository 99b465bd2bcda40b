import { z } from 'zod';
import {
  deliveryRecordSchema,
  webhookAddBodySchema,
  webhookCreatedSchema,
  webhookDeliveriesQuerySchema,
  webhookParamsSchema,
  webhookRecordSchema,
} from './webhook-api.js';
import { declareRoute, type RouteDeclaration } from './route-declaration.js';

/** The routes of webhooks: adding, listing, testing and removing them, and their deliveries. */
export const WEBHOOK_ROUTES = {
  addWebhook: declareRoute({
    feature: 'webhooks',
    method: 'POST',
    path: '/webhooks',
    roles: ['admin'],
    summary:
      "Add a webhook: notifications of an environment (or every one) and of some kinds POSTed to a URL, signed with the webhook's secret; the answer is the only time the secret is shown.",
    note: 'The URL must be http or https (`E_WEBHOOK_URL`); an unknown environment is `E_ENV_NOT_FOUND`. Only events recorded after it was added are notified. See docs/webhooks.md.',
    body: webhookAddBodySchema,
    answer: webhookCreatedSchema,
    statuses: [201],
    audit: { target: { id: 'answer.id', env: 'body.env' } },
  }),
  webhooks: declareRoute({
    feature: 'webhooks',
    method: 'GET',
    path: '/webhooks',
    roles: ['admin'],
    summary:
      'Every webhook, without its secret, its URL shown as scheme, host and port and a short hash of the rest (never its path, query or password: where tokens are), with its last delivery.',
    answer: z.object({ webhooks: z.array(webhookRecordSchema) }),
    statuses: [200],
  }),
  testWebhook: declareRoute({
    feature: 'webhooks',
    method: 'POST',
    path: '/webhooks/:id/test',
    roles: ['admin'],
    summary:
      'Send a `ping` notification to a webhook now, once (no retry), and answer how the receiver answered.',
    params: webhookParamsSchema,
    answer: z.object({ delivery: deliveryRecordSchema }),
    statuses: [200],
    audit: { target: { id: 'params.id' } },
  }),
  webhookDeliveries: declareRoute({
    feature: 'webhooks',
    method: 'GET',
    path: '/webhooks/:id/deliveries',
    roles: ['admin'],
    summary: "A webhook's deliveries, newest first (`limit`, 50 unless given), with their status.",
    params: webhookParamsSchema,
    query: webhookDeliveriesQuerySchema,
    answer: z.object({ deliveries: z.array(deliveryRecordSchema) }),
    statuses: [200],
  }),
  removeWebhook: declareRoute({
    feature: 'webhooks',
    method: 'DELETE',
    path: '/webhooks/:id',
    roles: ['admin'],
    summary: 'Remove a webhook; its deliveries not yet made are dropped.',
    params: webhookParamsSchema,
    answer: null,
    statuses: [204],
    audit: { target: { id: 'params.id' } },
  }),
} as const satisfies Record<string, RouteDeclaration>;
