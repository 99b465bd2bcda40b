import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryRecord, WebhookRecord } from '../src/protocol/webhook-api.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { webAppTree } from './helpers/web-app.js';
import { Receiver, signatureValid } from './helpers/webhook-receiver.js';

/**
 * Webhooks on a real server, with a real HTTP receiver in the test: each
 * notification signed with the webhook's secret, filtered by environment and
 * kind, retried with backoff while the receiver is down or failing, delivered
 * once each by id after a server restart, and the secret shown once only.
 * Retries are shortened (`retryFirst: 200ms`) to stand in for minutes.
 */

const CONFIG = `
webhooks: { retryFirst: 200ms, retryMax: 1s, timeout: 3s, poll: 200ms }
`;

/** A check of what the receiver holds, for `waitFor`. */
const polled =
  <T>(check: () => T | undefined) =>
  () =>
    Promise.resolve(check());

let cluster: Cluster;
let version = 0;
const receiver = new Receiver();
/** Each webhook's id and secret, by the path its receiver listens on. */
const hooks = new Map<string, { id: string; secret: string }>();

async function addWebhook(where: string, args: string[] = [], query = ''): Promise<void> {
  const added = await cluster.ferry(['webhooks', 'add', receiver.url(where) + query, ...args]);
  expect(added.code, added.stderr).toBe(0);
  // Never the URL's path or query again, not even to the person who typed it.
  expect(added.stderr).not.toContain(receiver.url(where));
  expect(added.stderr).toMatch(/→ http:\/\/127\.0\.0\.1:\d+\/…#[0-9a-f]{6} /);
  const secret = added.stdout.trim();
  expect(secret).toMatch(/^whsec_[\w-]{20,}$/);
  expect(added.stderr).toContain('X-Ferry-Signature');
  const id = /Webhook (wh_[0-9a-f]+)/.exec(added.stderr)![1]!;
  hooks.set(where, { id, secret });
}

beforeAll(async () => {
  await receiver.start();
  cluster = await Cluster.start({ config: CONFIG });
  await cluster.addHost('qa-1', 'qa');
  // Every kind of every environment; a secret token in its query, hidden when listed.
  await addWebhook('/all', [], '?token=s3cr3t-query');
  // Only prod's deployments: nothing in this test.
  await addWebhook('/prod-failures', [
    '--env',
    'prod',
    '--kinds',
    'deployment.started,deployment.succeeded,deployment.failed',
  ]);
  // Verdicts (of a bundle, in no environment: an environment's webhook hears them), as Slack messages.
  await addWebhook('/slack', ['--env', 'qa', '--kinds', 'verdict.changed', '--format', 'slack']);
}, 120_000);

afterAll(async () => {
  await cluster?.close();
  await receiver.stop();
});

describe('webhooks', () => {
  it('notifies a deployment and a verdict, signed, by environment and kind', async () => {
    // QA deploys every push by itself.
    version = await cluster.push(webAppTree('one'), 'one');
    const deployment = await waitFor(
      'the deployment to end',
      async () => {
        const [last] = await cluster.api().deployments({ app: 'web' });
        return last && last.state !== 'running' && last.state !== 'pending' ? last : undefined;
      },
      90_000,
    );
    expect(deployment.state, cluster.logs()).toBe('succeeded');
    await waitFor(
      'its notifications',
      polled(() => {
        const kinds = receiver.delivered('/all').map((d) => d.json.kind);
        return kinds.includes('deployment.succeeded') ? kinds : undefined;
      }),
    );
    const marked = await cluster.ferry(['mark', `web@${version}`, 'passed', '--note', 'ok']);
    expect(marked.code, marked.stderr).toBe(0);
    await waitFor(
      'the verdict notified',
      polled(() =>
        receiver.delivered('/slack').length > 0 &&
        receiver.delivered('/all').some((d) => d.json.kind === 'verdict.changed')
          ? true
          : undefined,
      ),
    );

    const all = receiver.delivered('/all');
    expect(all.map((d) => d.json.kind)).toEqual([
      'deployment.started',
      'deployment.succeeded',
      'verdict.changed',
    ]);
    const { id, secret } = hooks.get('/all')!;
    for (const { json, raw } of all) {
      expect(signatureValid(raw, secret)).toBe(true);
      expect(raw.headers['x-ferry-delivery']).toBe(json.id);
      expect(raw.headers['x-ferry-event']).toBe(json.kind);
      expect(json.id).toBe(`${id}:${String(json.eventId)}`);
      // A verdict is of a bundle, in no environment.
      expect(json).toMatchObject({
        env: json.kind === 'verdict.changed' ? null : 'qa',
        app: 'web',
        at: expect.any(String),
      });
      // Signed with this webhook's secret, not another's.
      expect(signatureValid(raw, hooks.get('/slack')!.secret)).toBe(false);
    }
    expect(all[1]!.json).toMatchObject({
      data: { version, state: 'succeeded' },
      summary: expect.stringContaining(`web@${version} was deployed to qa`),
    });
    expect(all[2]!.json).toMatchObject({
      data: { version, verdict: 'passed', note: 'ok' },
    });

    const slack = receiver.delivered('/slack');
    expect(slack).toHaveLength(1);
    expect(JSON.parse(slack[0]!.raw.body)).toEqual({
      text: expect.stringContaining(`web@${version} was marked passed`),
    });
    expect(signatureValid(slack[0]!.raw, hooks.get('/slack')!.secret)).toBe(true);
    expect(receiver.delivered('/prod-failures')).toEqual([]);
    expect(await cluster.api().webhookDeliveries(hooks.get('/prod-failures')!.id)).toEqual([]);
  }, 150_000);

  it('sends a ping on `webhooks test`, and refuses a URL that is not http(s)', async () => {
    const { id, secret } = hooks.get('/all')!;
    const tested = await cluster.ferry(['webhooks', 'test', id]);
    expect(tested.code, tested.stderr).toBe(0);
    expect(tested.stdout).toMatch(/^Delivered wh_[0-9a-f]+:ping-\S+: the receiver answered 200$/m);
    const ping = receiver.delivered('/all').at(-1)!;
    expect(ping.json).toMatchObject({ kind: 'ping', id: ping.raw.headers['x-ferry-delivery'] });
    expect(signatureValid(ping.raw, secret)).toBe(true);

    for (const bad of ['ftp://example.com/hook', 'file:///etc/passwd', 'not a url']) {
      const refused = await cluster.ferry(['webhooks', 'add', bad]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain('E_WEBHOOK_URL');
    }
    const noEnv = await cluster.ferry(['webhooks', 'add', receiver.url('/x'), '--env', 'nope']);
    expect(noEnv.stderr).toContain('E_ENV_NOT_FOUND');
    const noKind = await cluster.ferry([
      'webhooks',
      'add',
      receiver.url('/x'),
      '--kinds',
      'deploy',
    ]);
    expect(noKind.stderr).toContain('E_BAD_REQUEST');
    expect((await cluster.api().webhooks()).map((w) => w.url)).not.toContain(receiver.url('/x'));

    // A receiver's answer is its own text: it never reaches a terminal raw.
    await addWebhook('/hostile', ['--kinds', 'alert.raised']);
    receiver.failing.set('/hostile', 1);
    receiver.failText.set('/hostile', 'inside page \x1b]0;pwned\x07\x1b[2J\u009b31m done');
    const hostile = await cluster.ferry(['webhooks', 'test', hooks.get('/hostile')!.id]);
    expect(hostile.code).toBe(1);
    expect(hostile.stdout).toMatch(/^Not delivered wh_[0-9a-f]+:ping-\S+: HTTP 500/m);
    const shown = await cluster.ferry(['webhooks', 'deliveries', hooks.get('/hostile')!.id]);
    for (const text of [hostile.stdout, shown.stdout]) {
      for (const control of ['\x1b', '\x07', '\u009b']) expect(text).not.toContain(control);
    }
    // Nor is it kept: a webhook could point at an internal page (docs/security.md).
    expect(hostile.stdout).toMatch(/: HTTP 500 Internal Server Error$/m);
    const recorded = await cluster.api().webhookDeliveries(hooks.get('/hostile')!.id);
    expect(recorded.map((d) => d.lastError)).toEqual(['HTTP 500 Internal Server Error']);
    expect(JSON.stringify(recorded) + shown.stdout).not.toContain('inside page');

    const unknown = await cluster.ferry(['webhooks', 'test', 'wh_000000000000']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('E_WEBHOOK_NOT_FOUND');
  });

  it('delivers what happened while the receiver was down and the server restarted, each once, in order', async () => {
    // A receiver that fails twice before it takes anything.
    await addWebhook('/flaky', ['--kinds', 'verdict.changed']);
    receiver.failing.set('/flaky', 2);

    const port = receiver.port;
    await receiver.stop();
    const before = receiver.received.length;
    for (const verdict of ['failed', 'passed', 'failed']) {
      const marked = await cluster.ferry(['mark', `web@${version}`, verdict]);
      expect(marked.code, marked.stderr).toBe(0);
    }
    // Attempts fail while it is down; they are recorded with their error.
    const { id: allId } = hooks.get('/all')!;
    await waitFor('a failed attempt recorded', async () => {
      const [last] = (await cluster.api().webhookDeliveries(allId)).filter(
        (d) => d.kind === 'verdict.changed' && d.status === 'pending' && d.attempts > 0,
      );
      return last;
    });
    // The server dies meanwhile and starts again.
    await cluster.restartServer('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(receiver.received.length).toBe(before);
    await receiver.start(port);

    const verdicts = await waitFor(
      'every verdict delivered',
      polled(() => {
        const got = receiver.delivered('/all').filter((d) => d.json.kind === 'verdict.changed');
        return got.length >= 4 ? got : undefined;
      }),
      60_000,
    );
    const flaky = await waitFor(
      'the flaky receiver to take them',
      polled(() => {
        const got = receiver.delivered('/flaky');
        return got.length >= 3 ? got : undefined;
      }),
    );
    // Whatever came twice comes under one id: count by X-Ferry-Delivery.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const ids = receiver.delivered('/all').map((d) => d.raw.headers['x-ferry-delivery']);
    expect(new Set(ids).size).toBe(ids.length);
    expect(verdicts.slice(1).map((d) => (d.json.data as { verdict: string }).verdict)).toEqual([
      'failed',
      'passed',
      'failed',
    ]);
    const eventIds = verdicts.map((d) => Number(d.json.eventId));
    expect(eventIds).toEqual([...eventIds].sort((a, b) => a - b));

    // 500, 500, then 200: the first one tried three times; each recorded with its status.
    expect(receiver.received.filter((r) => r.path === '/flaky').map((r) => r.answered)).toEqual([
      500, 500, 200, 200, 200,
    ]);
    expect(flaky.map((d) => (d.json.data as { verdict: string }).verdict)).toEqual([
      'failed',
      'passed',
      'failed',
    ]);
    const deliveries = await cluster.json<DeliveryRecord[]>([
      'webhooks',
      'deliveries',
      hooks.get('/flaky')!.id,
    ]);
    // The first was tried while the receiver was down, then twice more (500, 500).
    expect(deliveries.at(-1)!.attempts).toBeGreaterThanOrEqual(3);
    expect(deliveries.map((d) => [d.status, d.lastStatus]).reverse()).toEqual([
      ['delivered', 200],
      ['delivered', 200],
      ['delivered', 200],
    ]);
    expect(deliveries.slice(0, 2).map((d) => d.attempts)).toEqual([1, 1]);
    const table = await cluster.ferry(['webhooks', 'deliveries', hooks.get('/flaky')!.id]);
    expect(table.stdout).toContain('delivered');
  }, 120_000);

  it('never shows the secret again: not listed, not logged, not audited, sealed in the store', async () => {
    const listed = await cluster.json<WebhookRecord[]>(['webhooks', 'list']);
    const all = listed.find((w) => w.id === hooks.get('/all')!.id)!;
    expect(all).toMatchObject({
      url: expect.stringMatching(
        new RegExp(`^http://127\\.0\\.0\\.1:${receiver.port}/…#[0-9a-f]{6}$`),
      ),
      env: null,
      format: 'json',
      lastDelivery: { status: 'delivered' },
    });
    expect(listed.find((w) => w.id === hooks.get('/slack')!.id)).toMatchObject({
      env: 'qa',
      kinds: ['verdict.changed'],
      format: 'slack',
    });
    const table = await cluster.ferry(['webhooks', 'list']);
    expect(table.code, table.stderr).toBe(0);
    const audit = await cluster.ferry(['audit', '--json']);
    expect(audit.stdout).toContain('addWebhook');
    const data = path.join(cluster.server.dataDir);
    const stored = (
      await Promise.all(
        (await readdir(data)).map((f) => readFile(path.join(data, f)).catch(() => Buffer.alloc(0))),
      )
    ).map((b) => b.toString('latin1'));
    for (const { secret } of hooks.values()) {
      for (const text of [
        JSON.stringify(listed),
        table.stdout,
        audit.stdout,
        cluster.logs(),
        ...stored,
      ])
        expect(text).not.toContain(secret);
    }
    // Nor a URL's path or query: not listed, not in the log of the failed attempts.
    expect(cluster.logs()).toContain('webhook delivery failed');
    for (const text of [table.stdout, audit.stdout, cluster.logs()]) {
      expect(text).not.toContain('s3cr3t-query');
      expect(text).not.toContain(receiver.url('/flaky'));
      expect(text).not.toContain(receiver.url('/all'));
    }

    const removed = await cluster.ferry(['webhooks', 'remove', hooks.get('/slack')!.id]);
    expect(removed.code, removed.stderr).toBe(0);
    expect((await cluster.api().webhooks()).map((w) => w.id)).not.toContain(
      hooks.get('/slack')!.id,
    );
    const again = await cluster.ferry(['webhooks', 'remove', hooks.get('/slack')!.id]);
    expect(again.stderr).toContain('E_WEBHOOK_NOT_FOUND');
  });
});
