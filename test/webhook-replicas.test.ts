import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSigningKey } from '../src/bundle/bundle-signature.js';
import { waitFor } from './helpers/cluster.js';
import { runFerry, type ServerProcess, startServer } from './helpers/ferry-process.js';
import { createTestDatabase } from './helpers/pg-database.js';
import { pgUrl } from './helpers/services.js';
import { makeTree } from './helpers/source-tree.js';
import { webAppTree } from './helpers/web-app.js';

/**
 * Webhooks with two `ferry server` replicas sharing one PostgreSQL: both
 * derive notifications from the shared events and both look for due
 * deliveries every 100 ms, yet a slow receiver that fails its first answers
 * gets each notification exactly once (counted by `X-Ferry-Delivery`), in the
 * order of the events, whichever replica recorded the change.
 */

const postgres = pgUrl();

describe.skipIf(!postgres)('webhooks with two server replicas on PostgreSQL', () => {
  let work: string;
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  const replicas = {} as Record<'a' | 'b', ServerProcess>;
  let receiver: Server;
  const received: { id: string; verdict: string; answered: number }[] = [];
  let failFirst = 2;

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'ferry-webhook-replicas-'));
    database = await createTestDatabase(postgres!);
    const config = [
      `store: { driver: postgres, url: '${database.url}' }`,
      `artifacts: { kind: fs, path: '${path.join(work, 'shared-bundles')}' }`,
      `secretKey: '${randomBytes(32).toString('base64')}'`,
      `signingKey: ${JSON.stringify(newSigningKey().privateKeyPem)}`,
      'environments:',
      '  - { name: qa }',
      'webhooks: { retryFirst: 100ms, retryMax: 300ms, poll: 100ms }',
      '',
    ].join('\n');
    await writeFile(path.join(work, 'config.yml'), config);
    receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        // Slow, so that a second replica looks while the first one sends.
        setTimeout(() => {
          const answered = failFirst-- > 0 ? 503 : 200;
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
            data: { verdict: string };
          };
          received.push({
            id: String(request.headers['x-ferry-delivery']),
            verdict: body.data.verdict,
            answered,
          });
          response.writeHead(answered).end();
        }, 150);
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const args = ['--config', path.join(work, 'config.yml'), '--log-level', 'info'];
    replicas.a = await startServer(args, { FERRY_REPLICA_ID: 'replica-a' });
    replicas.b = await startServer(
      args,
      { FERRY_REPLICA_ID: 'replica-b' },
      { caFrom: replicas.a.dataDir },
    );
  }, 120_000);

  afterAll(async () => {
    for (const replica of Object.values(replicas)) await replica?.stop();
    await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
    await database?.drop();
    await rm(work, { recursive: true, force: true });
  });

  it('delivers each notification once and in order, whichever replica recorded it', async () => {
    const on = (replica: ServerProcess) => ({
      FERRY_SERVER: replica.url,
      FERRY_TOKEN: replicas.a.adminToken,
    });
    const port = (receiver.address() as AddressInfo).port;
    const added = await runFerry(
      ['webhooks', 'add', `http://127.0.0.1:${port}/hook`, '--kinds', 'verdict.changed'],
      { env: on(replicas.a) },
    );
    expect(added.code, added.stderr).toBe(0);
    const dir = await makeTree(webAppTree('one'), path.join(work, 'src'));
    const pushed = await runFerry(['push', dir, '--json'], { env: on(replicas.b) });
    expect(pushed.code, pushed.stderr).toBe(0);
    const version = (JSON.parse(pushed.stdout) as { bundle: { version: number } }).bundle.version;

    const verdicts = ['passed', 'failed', 'passed', 'failed', 'passed', 'failed'];
    for (const [i, verdict] of verdicts.entries()) {
      const marked = await runFerry(['mark', `web@${version}`, verdict], {
        env: on(i % 2 === 0 ? replicas.a : replicas.b),
      });
      expect(marked.code, marked.stderr).toBe(0);
    }

    await waitFor('every verdict delivered', () =>
      Promise.resolve(
        received.filter((r) => r.answered === 200).length >= verdicts.length ? true : undefined,
      ),
    );
    // Both replicas keep looking a while: nothing comes again.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const delivered = received.filter((r) => r.answered === 200);
    expect(delivered.map((r) => r.verdict)).toEqual(verdicts);
    expect(new Set(delivered.map((r) => r.id)).size).toBe(verdicts.length);
    // The first one was tried three times (503, 503, 200), and nothing else was sent.
    expect(received).toHaveLength(verdicts.length + 2);
    expect(received.slice(0, 3).map((r) => r.id)).toEqual([
      delivered[0]!.id,
      delivered[0]!.id,
      delivered[0]!.id,
    ]);
    const logs = replicas.a.output() + replicas.b.output();
    expect(logs).not.toContain('"level":50');
  }, 120_000);
});
