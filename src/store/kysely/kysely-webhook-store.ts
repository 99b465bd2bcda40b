import { type Kysely, type Selectable, sql } from 'kysely';
import type { Database, WebhookDeliveriesTable, WebhooksTable } from '../schema.js';
import { keyMismatch, SecretBox } from '../secret-box.js';
import type {
  DeliveryOutcome,
  DeliveryStatus,
  NewDelivery,
  NotificationKind,
  StoredDelivery,
  StoredWebhook,
  WebhookStore,
} from '../webhook-store.js';

/** What a webhook's secret is sealed to: its row. */
const secretContext = (id: string) => `webhook:${id}`;

function toWebhook(row: Selectable<WebhooksTable>): StoredWebhook {
  return {
    id: row.id,
    url: row.url,
    env: row.env,
    kinds: JSON.parse(row.kinds) as NotificationKind[],
    format: row.format as StoredWebhook['format'],
    cursor: Number(row.cursor),
    createdAt: row.created_at,
    createdBy: row.created_by,
  };
}

function toDelivery(row: Selectable<WebhookDeliveriesTable>): StoredDelivery {
  return {
    id: row.id,
    webhookId: row.webhook_id,
    dedupKey: row.dedup_key,
    seq: Number(row.seq),
    kind: row.kind as StoredDelivery['kind'],
    body: row.body,
    createdAt: row.created_at,
    status: row.status as DeliveryStatus,
    attempts: row.attempts,
    lastStatus: row.last_status,
    lastError: row.last_error,
    nextAttemptAt: row.next_attempt_at,
    updatedAt: row.updated_at,
  };
}

/**
 * `WebhookStore` over Kysely, written once for every dialect. With a
 * `SecretBox`, each webhook's secret is sealed to its row.
 */
export class KyselyWebhookStore implements WebhookStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly box: SecretBox | undefined,
  ) {}

  async add(webhook: StoredWebhook, secret: string): Promise<void> {
    await this.db
      .insertInto('webhooks')
      .values({
        id: webhook.id,
        url: webhook.url,
        env: webhook.env,
        kinds: JSON.stringify(webhook.kinds),
        format: webhook.format,
        secret: this.box ? this.box.seal(secret, secretContext(webhook.id)) : secret,
        cursor: webhook.cursor,
        created_at: webhook.createdAt,
        created_by: webhook.createdBy,
      })
      .execute();
  }

  async get(id: string): Promise<StoredWebhook | undefined> {
    const row = await this.db
      .selectFrom('webhooks')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? toWebhook(row) : undefined;
  }

  async list(): Promise<StoredWebhook[]> {
    const rows = await this.db
      .selectFrom('webhooks')
      .selectAll()
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toWebhook);
  }

  async secret(id: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('webhooks')
      .select('secret')
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) return undefined;
    if (!SecretBox.isSealed(row.secret)) return row.secret;
    if (!this.box) throw keyMismatch(SecretBox.sealedWith(row.secret), null);
    return this.box.open(row.secret, secretContext(id));
  }

  async remove(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('webhook_deliveries').where('webhook_id', '=', id).execute();
      const result = await trx.deleteFrom('webhooks').where('id', '=', id).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
  }

  async advance(
    webhookId: string,
    from: number,
    to: number,
    deliveries: NewDelivery[],
  ): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      // First the cursor: a second replica deriving the same events waits on
      // this row, then finds it moved, and records nothing.
      const moved = await trx
        .updateTable('webhooks')
        .set({ cursor: to })
        .where('id', '=', webhookId)
        .where('cursor', '=', from)
        .executeTakeFirst();
      if (Number(moved.numUpdatedRows) === 0) return false;
      for (const delivery of deliveries) {
        await trx
          .insertInto('webhook_deliveries')
          .values({
            ...deliveryColumns(delivery),
            status: 'pending',
            attempts: 0,
            last_status: null,
            last_error: null,
            next_attempt_at: delivery.createdAt,
            lease_holder: null,
            lease_until: null,
            updated_at: delivery.createdAt,
          })
          .onConflict((oc) => oc.doNothing())
          .execute();
      }
      return true;
    });
  }

  async record(delivery: NewDelivery, outcome: DeliveryOutcome): Promise<void> {
    await this.db
      .insertInto('webhook_deliveries')
      .values({
        ...deliveryColumns(delivery),
        status: outcome.status,
        attempts: 1,
        last_status: outcome.lastStatus,
        last_error: outcome.lastError,
        next_attempt_at: outcome.nextAttemptAt,
        lease_holder: null,
        lease_until: null,
        updated_at: outcome.at,
      })
      .execute();
  }

  async nextPending(
    webhookId: string,
  ): Promise<(StoredDelivery & { leaseUntil: string | null }) | undefined> {
    const row = await this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('webhook_id', '=', webhookId)
      .where('status', '=', 'pending')
      .orderBy('seq')
      .orderBy('id')
      .limit(1)
      .executeTakeFirst();
    return row ? { ...toDelivery(row), leaseUntil: row.lease_until } : undefined;
  }

  async claim(id: string, holder: string, now: string, leaseUntil: string): Promise<boolean> {
    const result = await this.db
      .updateTable('webhook_deliveries')
      .set({ lease_holder: holder, lease_until: leaseUntil })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async finish(id: string, holder: string, outcome: DeliveryOutcome): Promise<void> {
    await this.db
      .updateTable('webhook_deliveries')
      .set({
        status: outcome.status,
        attempts: sql<number>`attempts + 1`,
        last_status: outcome.lastStatus,
        last_error: outcome.lastError,
        next_attempt_at: outcome.nextAttemptAt,
        lease_holder: null,
        lease_until: null,
        updated_at: outcome.at,
      })
      .where('id', '=', id)
      .where('lease_holder', '=', holder)
      .execute();
  }

  async deliveries(webhookId: string, limit: number): Promise<StoredDelivery[]> {
    const rows = await this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('webhook_id', '=', webhookId)
      .orderBy('created_at', 'desc')
      .orderBy('seq', 'desc')
      .limit(limit)
      .execute();
    return rows.map(toDelivery);
  }

  async prune(before: string): Promise<number> {
    const result = await this.db
      .deleteFrom('webhook_deliveries')
      .where('status', '<>', 'pending')
      .where('updated_at', '<', before)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

function deliveryColumns(delivery: NewDelivery) {
  return {
    id: delivery.id,
    webhook_id: delivery.webhookId,
    dedup_key: delivery.dedupKey,
    seq: delivery.seq,
    kind: delivery.kind,
    body: delivery.body,
    created_at: delivery.createdAt,
  };
}
