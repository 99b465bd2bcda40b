import { randomBytes } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { FerryError } from '../../protocol/errors.js';
import {
  type DeliveryRecord,
  WEBHOOK_KINDS,
  type WebhookAddBody,
  type WebhookRecord,
} from '../../protocol/webhook-api.js';
import type { Store } from '../../store/store.js';
import type { StoredDelivery, StoredWebhook } from '../../store/webhook-store.js';
import { notificationBody } from './notification.js';
import { sendNotification } from './webhook-sender.js';
import { checkWebhookUrl, redactWebhookUrl } from './webhook-url.js';

/**
 * Webhooks, as the admin manages them: add (the secret made here and shown
 * once), list (never the secret, the URL redacted: no path, query or
 * password), remove, a `ping` sent now,
 * and the record of deliveries. Sending what events notify is the
 * `WebhookDispatcher`'s.
 *
 * @example
 *   const { secret, ...webhook } = await webhooks.add({ url, format: 'json' }, 'alice');
 *   const { delivery } = await webhooks.test(webhook.id);
 */
export class WebhookService {
  constructor(
    private readonly store: Store,
    private readonly environments: () => readonly string[],
    private readonly timeoutMs: number,
  ) {}

  async add(body: WebhookAddBody, by: string): Promise<WebhookRecord & { secret: string }> {
    const url = checkWebhookUrl(body.url);
    if (body.env !== undefined && !this.environments().includes(body.env)) {
      throw new FerryError('E_ENV_NOT_FOUND', `No environment ${body.env}`, { env: body.env });
    }
    const webhook: StoredWebhook = {
      id: `wh_${randomBytes(6).toString('hex')}`,
      url,
      env: body.env ?? null,
      // In the catalogue's order, once each.
      kinds: WEBHOOK_KINDS.filter((k) => body.kinds === undefined || body.kinds.includes(k)),
      format: body.format,
      // Events from now on: not the history before it.
      cursor: await this.store.events.lastId(),
      createdAt: new Date().toISOString(),
      createdBy: by,
    };
    const secret = `whsec_${randomBytes(24).toString('base64url')}`;
    await this.store.webhooks.add(webhook, secret);
    return { ...toRecord(webhook, null), secret };
  }

  async list(): Promise<WebhookRecord[]> {
    const webhooks = await this.store.webhooks.list();
    return Promise.all(
      webhooks.map(async (webhook) => {
        const [last] = await this.store.webhooks.deliveries(webhook.id, 1);
        return toRecord(webhook, last ?? null);
      }),
    );
  }

  async remove(id: string): Promise<void> {
    if (!(await this.store.webhooks.remove(id))) throw notFound(id);
  }

  /** Sends a `ping` now, once, and records it with the receiver's answer. */
  async test(id: string, by: string): Promise<DeliveryRecord> {
    const webhook = await this.store.webhooks.get(id);
    const secret = await this.store.webhooks.secret(id);
    if (!webhook || secret === undefined) throw notFound(id);
    const at = new Date().toISOString();
    const key = `ping-${Date.now()}-${randomBytes(3).toString('hex')}`;
    const deliveryId = `${id}:${key}`;
    const summary = `Ping from Ferry (by ${by}): this webhook is reached`;
    const body = notificationBody(webhook.format, deliveryId, 'ping', summary, null, at);
    const result = await sendNotification(
      webhook.url,
      body,
      { id: deliveryId, kind: 'ping', secret },
      this.timeoutMs,
    );
    const done = new Date().toISOString();
    const delivery = {
      id: deliveryId,
      webhookId: id,
      dedupKey: key,
      seq: 0,
      kind: 'ping' as const,
      body,
      createdAt: at,
    };
    const outcome = {
      status: result.ok ? ('delivered' as const) : ('failed' as const),
      lastStatus: result.status,
      lastError: result.error,
      nextAttemptAt: done,
      at: done,
    };
    await this.store.webhooks.record(delivery, outcome);
    return toDeliveryRecord({ ...delivery, ...outcome, attempts: 1, updatedAt: done });
  }

  async deliveries(id: string, limit: number): Promise<DeliveryRecord[]> {
    if (!(await this.store.webhooks.get(id))) throw notFound(id);
    return (await this.store.webhooks.deliveries(id, limit)).map(toDeliveryRecord);
  }
}

function notFound(id: string): FerryError {
  return new FerryError('E_WEBHOOK_NOT_FOUND', `No webhook ${id}`, { id });
}

function toRecord(webhook: StoredWebhook, last: StoredDelivery | null): WebhookRecord {
  return {
    id: webhook.id,
    url: redactWebhookUrl(webhook.url),
    env: webhook.env,
    kinds: webhook.kinds,
    format: webhook.format,
    createdAt: webhook.createdAt,
    createdBy: webhook.createdBy,
    lastDelivery: last ? toDeliveryRecord(last) : null,
  };
}

function toDeliveryRecord(delivery: StoredDelivery): DeliveryRecord {
  return {
    id: delivery.id,
    kind: delivery.kind,
    status: delivery.status,
    attempts: delivery.attempts,
    lastStatus: delivery.lastStatus,
    lastError: statusLineOnly(delivery.lastError),
    nextAttemptAt: delivery.nextAttemptAt,
    createdAt: delivery.createdAt,
    updatedAt: delivery.updatedAt,
  };
}

/**
 * A recorded error as shown: an `HTTP <status>` one as its status line only.
 * Attempts recorded by an older Ferry kept up to 300 characters of the receiver's answer (or
 * where it redirected to) there; those are not shown.
 */
function statusLineOnly(error: string | null): string | null {
  const match = error === null ? null : /^HTTP (\d{3})(.*)$/s.exec(error);
  if (!match) return error;
  const status = Number(match[1]);
  const line = `HTTP ${status}${STATUS_CODES[status] ? ` ${STATUS_CODES[status]}` : ''}`;
  return status >= 300 && status < 400 ? `${line}: redirects are not followed` : line;
}
