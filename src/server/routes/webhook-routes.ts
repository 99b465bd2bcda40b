import type { WebhookService } from '../webhooks/webhook-service.js';
import { routePlugin } from './route-plugin.js';

/** Webhook routes (admin only): add, list, test, remove, and their deliveries. */
export function webhookRoutes(webhooks: WebhookService) {
  return routePlugin('webhooks', {
    addWebhook: async ({ token, body, request }) => {
      const created = await webhooks.add(body, token.name);
      // Never the secret, nor the URL as given (it may hold a token).
      request.log.info(
        { id: created.id, url: created.url, env: created.env, by: token.name },
        'webhook added',
      );
      return created;
    },
    webhooks: async () => ({ webhooks: await webhooks.list() }),
    testWebhook: async ({ token, params: { id } }) => ({
      delivery: await webhooks.test(id, token.name),
    }),
    webhookDeliveries: async ({ params: { id }, query }) => ({
      deliveries: await webhooks.deliveries(id, query.limit ?? 50),
    }),
    removeWebhook: async ({ params: { id } }) => {
      await webhooks.remove(id);
    },
  });
}
