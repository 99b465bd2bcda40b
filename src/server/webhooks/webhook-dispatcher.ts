import type { FastifyBaseLogger } from 'fastify';
import type { Store } from '../../store/store.js';
import type { NewDelivery, StoredWebhook } from '../../store/webhook-store.js';
import { notificationBody, notificationOf, NOTIFYING_EVENTS } from './notification.js';
import { redactWebhookUrl } from './webhook-url.js';
import { sendNotification } from './webhook-sender.js';

/** How many notifying events one read derives notifications from. */
const PAGE = 200;

/**
 * How many event ids one read spans at most, notifying or not: the cursor
 * passes the others (install steps, facts, health) so that they are not read
 * again, and a read looks at a bounded range of the events' primary key.
 */
const SPAN = 5_000;

/** How deliveries are sent and retried (the server's `webhooks` config, in milliseconds). */
export interface WebhookTimings {
  retryFirstMs: number;
  retryMaxMs: number;
  giveUpAfterMs: number;
  timeoutMs: number;
  pollMs: number;
  /** Deliveries that ended are kept this long. */
  keepMs: number;
}

/** How often ended deliveries are pruned. */
const PRUNE_EVERY_MS = 3_600_000;

/**
 * Delivers notifications to webhooks, at least once, in the order of their
 * events per webhook. Each webhook is served on its own (one that is slow to
 * answer, or has a long backlog, holds back no other); each time, for each
 * webhook: derives the notifications
 * of the events recorded since its cursor and records them as pending
 * deliveries (with the cursor's move, in one transaction: a restart loses
 * nothing and a second replica records nothing twice); then sends its oldest
 * pending delivery when it is due, under a lease so that one replica sends it
 * at a time, and the next only once that one is delivered or given up. A
 * failed attempt is tried again after `retryFirst`, doubling up to
 * `retryMax`, until `giveUpAfter` from when it was recorded.
 *
 * @example
 *   const dispatcher = new WebhookDispatcher(store, logger, timings, 'replica_a');
 *   dispatcher.start();
 *   bus.on(NOTIFYING_EVENTS, () => dispatcher.wake());
 *   await dispatcher.stop();
 */
export class WebhookDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private pruning: NodeJS.Timeout | undefined;
  /** The look for webhooks under way, and whether another was asked for meanwhile. */
  private looking: Promise<void> | undefined;
  private again = false;
  /** Each webhook being served now, and whether to serve it again when that ends. */
  private readonly serving = new Map<string, { again: boolean; done: Promise<void> }>();
  private stopped = false;
  private readonly stopping = new AbortController();

  constructor(
    private readonly store: Store,
    private readonly logger: FastifyBaseLogger,
    private readonly timings: WebhookTimings,
    private readonly replicaId: string,
  ) {}

  /** Starts looking for due deliveries every `pollMs` (a timer that does not hold the process). */
  start(): void {
    if (this.stopped || this.timer) return;
    this.timer = setInterval(() => this.wake(), this.timings.pollMs);
    this.timer.unref();
    this.pruning = setInterval(() => void this.prune(), PRUNE_EVERY_MS);
    this.pruning.unref();
    void this.prune();
    this.wake();
  }

  /**
   * Looks now (an event came): serves each webhook that is not being served,
   * and serves again, when it is done, each one that is. A look under way
   * looks again when it ends.
   */
  wake(): void {
    if (this.stopped) return;
    if (this.looking) {
      this.again = true;
      return;
    }
    this.looking = this.look().finally(() => {
      this.looking = undefined;
    });
  }

  /** Stops: no new look, a send under way is cut short (and tried again at the next start). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.pruning) clearInterval(this.pruning);
    this.stopping.abort();
    await this.looking;
    await Promise.all([...this.serving.values()].map((s) => s.done));
  }

  /** Deletes the deliveries that ended longer than `keepMs` ago; its errors are logged. */
  private async prune(): Promise<void> {
    try {
      const before = new Date(Date.now() - this.timings.keepMs).toISOString();
      const pruned = await this.store.webhooks.prune(before);
      if (pruned > 0) this.logger.info({ pruned }, 'old webhook deliveries pruned');
    } catch (err) {
      if (!this.stopped) this.logger.error({ err }, 'webhook deliveries: pruning failed');
    }
  }

  private async look(): Promise<void> {
    do {
      this.again = false;
      try {
        for (const webhook of await this.store.webhooks.list()) this.serveSoon(webhook);
      } catch (err) {
        if (!this.stopped) this.logger.error({ err }, 'webhook deliveries: a look failed');
      }
    } while (this.again && !this.stopped);
  }

  /** Serves a webhook now, on its own; one being served is served again when it is done. */
  private serveSoon(webhook: StoredWebhook): void {
    const under = this.serving.get(webhook.id);
    if (under) {
      under.again = true;
      return;
    }
    const state = { again: false, done: Promise.resolve() };
    this.serving.set(webhook.id, state);
    state.done = (async () => {
      let current: StoredWebhook | undefined = webhook;
      while (current && !this.stopped) {
        state.again = false;
        await this.serve(current);
        if (!state.again) return;
        // Its cursor as it stands now (this serve moved it); undefined once removed.
        current = await this.store.webhooks.get(webhook.id).catch(() => undefined);
      }
    })().finally(() => this.serving.delete(webhook.id));
  }

  private async serve(webhook: StoredWebhook): Promise<void> {
    try {
      await this.derive(webhook);
      await this.deliverDue(webhook);
    } catch (err) {
      if (!this.stopped)
        this.logger.error({ err, webhook: webhook.id }, 'webhook deliveries: a look failed');
    }
  }

  /**
   * Records the notifications of the events after the webhook's cursor, and
   * moves it on to the last event read, notifying or not (in the same
   * transaction): by spans of at most `SPAN` ids, up to the newest event.
   */
  private async derive(webhook: StoredWebhook): Promise<void> {
    let cursor = webhook.cursor;
    const end = await this.store.events.lastId();
    while (cursor < end && !this.stopped) {
      const until = Math.min(end, cursor + SPAN);
      const events = await this.store.events.list({
        after: cursor,
        until,
        limit: PAGE,
        filter: { kinds: [...NOTIFYING_EVENTS] },
      });
      // Fewer than a page: every notifying event up to `until` is here.
      const to = events.length < PAGE ? until : Number(events.at(-1)!.id);
      const deliveries: NewDelivery[] = [];
      for (const event of events) {
        const notification = notificationOf(event);
        if (!notification || !webhook.kinds.includes(notification.kind)) continue;
        // A verdict is of a bundle, in no environment: every webhook of its kind hears it.
        if (webhook.env !== null && event.env !== null && event.env !== webhook.env) continue;
        const id = `${webhook.id}:${event.id}`;
        deliveries.push({
          id,
          webhookId: webhook.id,
          dedupKey: notification.dedupKey,
          seq: Number(event.id),
          kind: notification.kind,
          body: notificationBody(
            webhook.format,
            id,
            notification.kind,
            notification.summary,
            event,
            event.at,
          ),
          createdAt: new Date().toISOString(),
        });
      }
      if (await this.store.webhooks.advance(webhook.id, cursor, to, deliveries)) {
        cursor = to;
        continue;
      }
      // Another replica moved the cursor first: it recorded these; go on from where it is.
      const moved = (await this.store.webhooks.get(webhook.id))?.cursor;
      if (moved === undefined || moved <= cursor) return; // removed meanwhile
      cursor = moved;
    }
  }

  /** Sends the webhook's pending deliveries in order, while they are due and received. */
  private async deliverDue(webhook: StoredWebhook): Promise<void> {
    while (!this.stopped) {
      const due = await this.store.webhooks.nextPending(webhook.id);
      const now = new Date();
      const nowText = now.toISOString();
      if (!due || due.nextAttemptAt > nowText) return;
      // Held by another replica: it sends this one, and the ones after it wait their turn.
      if (due.leaseUntil !== null && due.leaseUntil >= nowText) return;
      const leaseUntil = new Date(now.getTime() + this.timings.timeoutMs + 30_000).toISOString();
      if (!(await this.store.webhooks.claim(due.id, this.replicaId, nowText, leaseUntil))) return;
      const secret = await this.store.webhooks.secret(webhook.id);
      if (secret === undefined) return; // removed meanwhile
      const result = await sendNotification(
        webhook.url,
        due.body,
        { id: due.id, kind: due.kind, secret },
        this.timings.timeoutMs,
        this.stopping.signal,
      );
      const at = new Date();
      const attempts = due.attempts + 1;
      const givenUp =
        !result.ok && at.getTime() - Date.parse(due.createdAt) >= this.timings.giveUpAfterMs;
      const retryIn = Math.min(
        this.timings.retryFirstMs * 2 ** Math.min(attempts - 1, 30),
        this.timings.retryMaxMs,
      );
      await this.store.webhooks.finish(due.id, this.replicaId, {
        status: result.ok ? 'delivered' : givenUp ? 'failed' : 'pending',
        lastStatus: result.status,
        lastError: result.error,
        nextAttemptAt:
          result.ok || givenUp ? at.toISOString() : new Date(at.getTime() + retryIn).toISOString(),
        at: at.toISOString(),
      });
      if (!result.ok) {
        this.logger.warn(
          {
            webhook: webhook.id,
            url: redactWebhookUrl(webhook.url),
            delivery: due.id,
            attempts,
            error: result.error,
          },
          givenUp
            ? 'webhook delivery given up'
            : `webhook delivery failed; tried again in ${Math.round(retryIn / 1000)} s`,
        );
        // The next ones wait: a webhook's notifications arrive in order.
        if (!givenUp) return;
      }
    }
  }
}
