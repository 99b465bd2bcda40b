import type { Kysely } from 'kysely';
import type { OutboxMessage, OutboxStore } from '../outbox-store.js';
import type { Database } from '../schema.js';
import { keyMismatch, SecretBox } from '../secret-box.js';
import { outboxContext } from './kysely-secret-sealing.js';

/**
 * `OutboxStore` over Kysely, written once for every dialect. With a
 * `SecretBox`, a body is sealed (bound to its host and message id) before it
 * is written: a job carries the values of secret variables.
 */
export class KyselyOutboxStore implements OutboxStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly box: SecretBox | undefined,
  ) {}

  async enqueue(hostId: string, message: OutboxMessage): Promise<void> {
    await this.db
      .insertInto('outbox')
      .values({
        host_id: hostId,
        message_id: message.id,
        body: this.box
          ? this.box.seal(message.body, outboxContext(hostId, message.id))
          : message.body,
        created_at: new Date().toISOString(),
      })
      .onConflict((oc) => oc.columns(['host_id', 'message_id']).doNothing())
      .execute();
  }

  async pending(hostId: string): Promise<OutboxMessage[]> {
    const rows = await this.db
      .selectFrom('outbox')
      .select(['message_id', 'body'])
      .where('host_id', '=', hostId)
      .orderBy('seq')
      .execute();
    return rows.map((r) => ({ id: r.message_id, body: this.opened(r.body, hostId, r.message_id) }));
  }

  private opened(body: string, hostId: string, messageId: string): string {
    if (!SecretBox.isSealed(body)) return body;
    if (!this.box) throw keyMismatch(SecretBox.sealedWith(body), null);
    return this.box.open(body, outboxContext(hostId, messageId));
  }

  async ack(hostId: string, messageId: string): Promise<void> {
    await this.db
      .deleteFrom('outbox')
      .where('host_id', '=', hostId)
      .where('message_id', '=', messageId)
      .execute();
  }

  async depth(): Promise<number> {
    const row = await this.db
      .selectFrom('outbox')
      .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }
}
