import type { WebhookKind } from '../protocol/webhook-api.js';
/** What a webhook is told of: a kind of notification (`ping` is `ferry webhooks test`'s own). */
export type NotificationKind = WebhookKind;

/** A webhook as recorded, without its secret. */
export interface StoredWebhook {
  id: string;
  url: string;
  /** The environment whose notifications it gets; null for every one. */
  env: string | null;
  kinds: NotificationKind[];
  format: 'json' | 'slack';
  /** The id of the last event its notifications were derived from. */
  cursor: number;
  createdAt: string;
  createdBy: string;
}

/** A delivery's status: waiting to be sent (or sent again), received (2xx), or given up. */
export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

/** A notification to record for a webhook. */
export interface NewDelivery {
  /** Stable: `<webhookId>:<eventId>`, what the receiver deduplicates by. */
  id: string;
  webhookId: string;
  /** One notification per key and webhook: a second one with the same key is not recorded. */
  dedupKey: string;
  /** The id of the event it comes from (0 for a ping): deliveries go in this order. */
  seq: number;
  kind: NotificationKind | 'ping';
  /** The exact body sent (signed as it is). */
  body: string;
  createdAt: string;
}

export interface StoredDelivery extends NewDelivery {
  status: DeliveryStatus;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  nextAttemptAt: string;
  updatedAt: string;
}

/** What one attempt at a delivery came to. */
export interface DeliveryOutcome {
  status: DeliveryStatus;
  lastStatus: number | null;
  lastError: string | null;
  /** When to try again (pending), or when it ended. */
  nextAttemptAt: string;
  at: string;
}

/**
 * Webhooks and their deliveries. Notifications are derived from the events
 * table by each webhook's cursor (`advance` records them and moves it in one
 * transaction), so nothing is lost to a restart; a delivery is claimed with a
 * lease before it is sent, so that one replica sends it at a time.
 *
 * @example
 *   await store.webhooks.add(webhook, secret);
 *   await store.webhooks.advance(webhook.id, webhook.cursor, 42, deliveries);
 *   const due = await store.webhooks.nextPending(webhook.id);
 *   if (due && (await store.webhooks.claim(due.id, 'replica_a', now, leaseUntil))) …
 */
export interface WebhookStore {
  add(webhook: StoredWebhook, secret: string): Promise<void>;
  get(id: string): Promise<StoredWebhook | undefined>;
  /** Oldest first. */
  list(): Promise<StoredWebhook[]>;
  /** The webhook's secret, opened; undefined for an unknown webhook. */
  secret(id: string): Promise<string | undefined>;
  /** Removes a webhook and its deliveries; false when there was none. */
  remove(id: string): Promise<boolean>;
  /**
   * Records deliveries (those whose key the webhook has already are left out)
   * and moves its cursor to `to`, only if it still stands at `from` (another
   * replica may have moved it): false then, and nothing is recorded.
   */
  advance(webhookId: string, from: number, to: number, deliveries: NewDelivery[]): Promise<boolean>;
  /** Records a delivery that was sent once, outside the queue (a ping), with its outcome. */
  record(delivery: NewDelivery, outcome: DeliveryOutcome): Promise<void>;
  /** The webhook's oldest pending delivery, due or not. */
  nextPending(
    webhookId: string,
  ): Promise<(StoredDelivery & { leaseUntil: string | null }) | undefined>;
  /**
   * Takes a pending delivery for `holder` until `leaseUntil`, if no one else
   * holds it at `now`; false when another holds it or it is no longer pending.
   */
  claim(id: string, holder: string, now: string, leaseUntil: string): Promise<boolean>;
  /** Records one attempt's outcome and lets go of the lease (only the holder's). */
  finish(id: string, holder: string, outcome: DeliveryOutcome): Promise<void>;
  /** A webhook's deliveries, newest first. */
  deliveries(webhookId: string, limit: number): Promise<StoredDelivery[]>;
  /** Deletes deliveries that ended (delivered or failed) before a time; returns how many. */
  prune(before: string): Promise<number>;
}
