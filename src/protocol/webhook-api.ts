import { z } from 'zod';

/**
 * Bodies of the webhook routes (`ferry webhooks …`): where notifications go,
 * and how their deliveries went. See docs/webhooks.md for what a receiver gets.
 */

/** What a webhook may be told of; `ping` only by `ferry webhooks test`. */
export const WEBHOOK_KINDS = [
  'deployment.started',
  'deployment.succeeded',
  'deployment.failed',
  'deployment.rolled_back',
  'verdict.changed',
  'alert.raised',
  'alert.cleared',
] as const;
export type WebhookKind = (typeof WEBHOOK_KINDS)[number];
export const webhookKindSchema = z.enum(WEBHOOK_KINDS, {
  error: `expected one of ${WEBHOOK_KINDS.join(', ')}`,
});

export const WEBHOOK_FORMATS = ['json', 'slack'] as const;

export const webhookAddBodySchema = z.strictObject({
  /** http or https; checked by the server (`E_WEBHOOK_URL`). */
  url: z.string().min(1).max(2048),
  /** Only this environment's notifications; every environment's without. */
  env: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,62}$/)
    .optional(),
  /** Only these kinds; every kind without. */
  kinds: z.array(webhookKindSchema).min(1).max(WEBHOOK_KINDS.length).optional(),
  format: z.enum(WEBHOOK_FORMATS).default('json'),
});
export type WebhookAddBody = z.infer<typeof webhookAddBodySchema>;

export const deliveryRecordSchema = z.object({
  /** What the receiver deduplicates by (`X-Ferry-Delivery`): `<webhookId>:<eventId>`. */
  id: z.string(),
  kind: z.string(),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int(),
  /** The receiver's last HTTP status; null when it did not answer. */
  lastStatus: z.number().int().nullable(),
  lastError: z.string().nullable(),
  /** When it is tried again (pending), or when it ended. */
  nextAttemptAt: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type DeliveryRecord = z.infer<typeof deliveryRecordSchema>;

/** A webhook as listed: never its secret; its URL as `scheme://host:port/…#<hash>` (`redactWebhookUrl`). */
export const webhookRecordSchema = z.object({
  id: z.string(),
  url: z.string(),
  env: z.string().nullable(),
  kinds: z.array(z.string()),
  format: z.enum(WEBHOOK_FORMATS),
  createdAt: z.string(),
  createdBy: z.string(),
  lastDelivery: deliveryRecordSchema.nullable(),
});
export type WebhookRecord = z.infer<typeof webhookRecordSchema>;

/** The answer to adding a webhook: the only time its secret is shown. */
export const webhookCreatedSchema = webhookRecordSchema.extend({ secret: z.string() });

export const webhookParamsSchema = z.object({ id: z.string().min(1).max(100) });

export const webhookDeliveriesQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).optional(),
});
