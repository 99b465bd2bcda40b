import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import type { StoredWebhook } from '../../store/webhook-store.js';
import { WebhookDispatcher, type WebhookTimings } from './webhook-dispatcher.js';

/**
 * The dispatcher over a real SQLite store and real HTTP receivers: how far
 * its cursor goes past events that notify nothing, and that one webhook's
 * slow backlog does not hold back another's notifications.
 */

const TIMINGS: WebhookTimings = {
  retryFirstMs: 200,
  retryMaxMs: 1000,
  giveUpAfterMs: 60_000,
  timeoutMs: 5000,
  pollMs: 100,
  keepMs: 86_400_000,
};

const logger = {
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
} as unknown as FastifyBaseLogger;

let dir: string;
let store: SqliteStore;
let dispatcher: WebhookDispatcher | undefined;
const servers: Server[] = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-dispatcher-'));
  store = SqliteStore.open(path.join(dir, 'ferry.db'));
  await store.migrate();
});
afterEach(async () => {
  await dispatcher?.stop();
  dispatcher = undefined;
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

/** A receiver that answers 200 after `delayMs`; what it got, by X-Ferry-Delivery, in order. */
async function receiver(delayMs = 0): Promise<{ url: string; got: string[] }> {
  const got: string[] = [];
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      setTimeout(() => {
        got.push(String(request.headers['x-ferry-delivery']));
        response.writeHead(200).end();
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got };
}

async function addWebhook(id: string, url: string, env: string | null): Promise<StoredWebhook> {
  const webhook: StoredWebhook = {
    id,
    url,
    env,
    kinds: ['verdict.changed', 'alert.raised'],
    format: 'json',
    cursor: await store.events.lastId(),
    createdAt: new Date().toISOString(),
    createdBy: 'admin',
  };
  await store.webhooks.add(webhook, `whsec_${id}`);
  return webhook;
}

/** An event that notifies nothing (a host's facts, as every host reports). */
const facts = () =>
  store.events.append({
    kind: 'host.facts',
    app: null,
    env: 'qa',
    deploymentId: null,
    hostId: 'host_1',
    data: { host: 'qa-1' },
  });

/** A verdict: every webhook that asks for `verdict.changed` hears it. */
const verdict = (version: number, env: string | null = null) =>
  store.events.append({
    kind: 'verdict.changed',
    app: 'web',
    env,
    deploymentId: null,
    hostId: null,
    data: { version, verdict: 'passed', previous: 'unknown', by: 'qa', note: null },
  });

async function until<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  ms = 15_000,
) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('WebhookDispatcher', () => {
  it('moves the cursor past events that notify nothing, so they are not read again', async () => {
    const { url, got } = await receiver();
    await addWebhook('wh_a', url, null);
    for (let i = 0; i < 30; i++) await facts();
    const last = Number((await facts()).id);
    dispatcher = new WebhookDispatcher(store, logger, TIMINGS, 'replica_a');
    dispatcher.start();
    await until('the cursor past every event', async () =>
      (await store.webhooks.get('wh_a'))?.cursor === last ? true : undefined,
    );
    expect(got).toEqual([]);

    // More than a page of notifying events among others: each recorded once, in order.
    const made: string[] = [];
    for (let i = 0; i < 230; i++) {
      made.push((await verdict(i)).id);
      if (i % 10 === 0) await facts();
    }
    const end = Number((await facts()).id);
    dispatcher.wake();
    await until('every verdict delivered', () =>
      Promise.resolve(got.length >= 230 ? true : undefined),
    );
    expect(got).toEqual(made.map((id) => `wh_a:${id}`));
    await until('the cursor at the last event', async () =>
      (await store.webhooks.get('wh_a'))?.cursor === end ? true : undefined,
    );
  }, 60_000);

  it("sends one webhook's new notifications while another's backlog is still being sent", async () => {
    // Two seconds an answer: the backlog outlasts any delay a loaded machine adds to the fast one.
    const slow = await receiver(2000);
    const fast = await receiver();
    await addWebhook('wh_slow', slow.url, null);
    await addWebhook('wh_fast', fast.url, 'prod');
    // Ten verdicts for every webhook: twenty seconds of backlog for the slow one.
    for (let i = 0; i < 10; i++) await verdict(i);
    dispatcher = new WebhookDispatcher(store, logger, TIMINGS, 'replica_a');
    dispatcher.start();
    await until('the fast one to take its ten', () =>
      fast.got.length >= 10 && slow.got.length >= 1 ? true : undefined,
    );
    // Now something for the fast one only (an alert of prod; the slow one hears it too, last).
    const alert = await store.events.append({
      kind: 'alert.raised',
      app: 'web',
      env: 'prod',
      deploymentId: null,
      hostId: 'host_1',
      data: {
        alertId: 1,
        alertKind: 'disk-full',
        host: 'prod-1',
        version: null,
        message: 'disk / 95% full',
        startedAt: new Date().toISOString(),
        clearedAt: null,
      },
    });
    dispatcher.wake();
    await until('the alert at the fast one', () =>
      fast.got.includes(`wh_fast:${alert.id}`) ? true : undefined,
    );
    // The slow one is still sending its backlog: it did not hold the fast one back.
    expect(slow.got.length).toBeLessThan(10);
    await until(
      'the slow one to take all eleven',
      () => (slow.got.length >= 11 ? true : undefined),
      45_000,
    );
    expect(slow.got.at(-1)).toBe(`wh_slow:${alert.id}`);
  }, 60_000);
});
