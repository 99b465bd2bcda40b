import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBundle } from '../src/bundle/pack.js';
import { ApiClient } from '../src/cli/api-client.js';
import type { DeploymentRecord } from '../src/protocol/deployment-api.js';
import { type AgentProcess, startAgent } from './helpers/agent-process.js';
import { rabbitmqSetup } from './helpers/backends.js';
import { killServices, reservePort, waitFor } from './helpers/cluster.js';
import { runFerry, type ServerProcess, startServer } from './helpers/ferry-process.js';
import { createTestDatabase } from './helpers/pg-database.js';
import { amqpUrl, pgUrl } from './helpers/services.js';
import { makeTree } from './helpers/source-tree.js';
import { TcpBalancer } from './helpers/tcp-balancer.js';
import { webAppTree } from './helpers/web-app.js';
import { newSigningKey } from '../src/bundle/bundle-signature.js';
import { harnessFetch, harnessTrust } from '../src/dev/harness-trust.js';

/**
 * Two server replicas sharing one PostgreSQL, one RabbitMQ and one artifact
 * folder, behind a load balancer: pushes that arrive at both at once get
 * distinct consecutive versions, and a replica killed in the middle of a
 * rolling deployment leaves the other to finish it, with no host installed twice.
 */

const postgres = pgUrl();
const rabbit = amqpUrl();
const HOSTS = ['prod-1', 'prod-2', 'prod-3', 'prod-4'];

describe.skipIf(!postgres || !rabbit)('two server replicas on PostgreSQL and RabbitMQ', () => {
  let work: string;
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let broker: ReturnType<typeof rabbitmqSetup>;
  const replicas: Record<'a' | 'b', ServerProcess> = {} as Record<'a' | 'b', ServerProcess>;
  let balancer: TcpBalancer;
  let token: string;
  const agents = new Map<string, { agent: AgentProcess; root: string; port: number }>();
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'ferry-replicas-'));
    database = await createTestDatabase(postgres!);
    broker = rabbitmqSetup(rabbit!);
    const config = path.join(work, 'ferry.yml');
    await writeFile(
      config,
      [
        broker.options.config!.trim(),
        `store: { driver: postgres, url: '${database.url}' }`,
        `artifacts: { kind: fs, path: '${path.join(work, 'shared-bundles')}' }`,
        '# Replicas of one store seal secrets with one key.',
        `secretKey: '${randomBytes(32).toString('base64')}'`,
        '# And sign bundles with one key.',
        `signingKey: ${JSON.stringify(newSigningKey().privateKeyPem)}`,
        'environments:',
        '  - { name: qa }',
        '  - { name: prod, requires: passed, strategy: { batch: 1, maxFailures: 0, offlineTimeout: 120s } }',
        '# A killed replica holds its leases this long: kept short for the test.',
        'rollout: { leaseSeconds: 3 }',
        '',
      ].join('\n'),
    );
    const args = ['--config', config, '--log-level', 'info'];
    replicas.a = await startServer(args, { FERRY_REPLICA_ID: 'replica-a' });
    // Replicas behind one address share the CA agents pin.
    replicas.b = await startServer(
      args,
      { FERRY_REPLICA_ID: 'replica-b' },
      { caFrom: replicas.a.dataDir },
    );
    token = replicas.a.adminToken;
    expect(token).not.toBe('');
    balancer = await TcpBalancer.start(
      [replicas.a, replicas.b].map((r) => Number(new URL(r.url).port)),
    );
    env = {
      FERRY_SERVER: balancer.url,
      FERRY_TOKEN: token,
      FERRY_CONFIG_DIR: path.join(work, 'cli'),
    };
    const enrol = await runFerry(['tokens', 'create', '--role', 'agent', '--env', 'prod'], { env });
    const enrolToken = enrol.stdout.split('\n')[0]!.trim();
    for (const name of HOSTS) {
      const root = path.join(work, 'hosts', name);
      const port = await reservePort();
      const agent = await startAgent({
        admin: replicas.a,
        server: balancer.url,
        token: enrolToken,
        env: 'prod',
        roles: ['web'],
        root,
        name,
        vars: { PORT: String(port) },
        args: await broker.options.agentArgs!({ name, env: 'prod' }),
        ...(broker.options.agentEnv ? { processEnv: broker.options.agentEnv } : {}),
      });
      broker.options.onHostEnrolled!(agent.hostId);
      agents.set(name, { agent, root, port });
    }
  }, 180_000);

  afterAll(async () => {
    for (const { agent, root } of agents.values()) {
      await agent.stop();
      await killServices(root);
    }
    await balancer?.close();
    for (const replica of Object.values(replicas)) await replica?.stop();
    await broker?.cleanup();
    await database?.drop();
    await rm(work, { recursive: true, force: true });
  });

  it('gives 20 pushes arriving at both replicas at once 20 distinct consecutive versions', async () => {
    const files = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const dir = await makeTree(webAppTree(`push-${i}`), path.join(work, 'src', `p${i}`));
        return (await createBundle({ sourceDir: dir, out: path.join(work, `p${i}.tar.gz`) })).file;
      }),
    );
    const clients = [
      new ApiClient(replicas.a.url, token, harnessTrust()),
      new ApiClient(replicas.b.url, token, harnessTrust()),
    ];
    const pushed = await Promise.all(files.map((file, i) => clients[i % 2]!.push(file)));
    expect(pushed.every((p) => p.created)).toBe(true);
    expect(pushed.map((p) => p.bundle.version).sort((x, y) => x - y)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    // Both replicas see every bundle, and can serve each from the shared folder.
    for (const client of clients) {
      expect((await client.bundles('web', 1000)).length).toBe(20);
      const got = await client.download(
        'web',
        7,
        path.join(work, `web-7-${clients.indexOf(client)}.tar.gz`),
      );
      expect(got.sha256).toBe(pushed.find((p) => p.bundle.version === 7)!.bundle.sha256);
    }
  }, 180_000);

  it('finishes a rolling deployment whose driving replica is killed, installing each host once', async () => {
    // A service that takes 2 s to come up, so that the rollout is still going when a replica dies.
    const tree = webAppTree('slow', { slowStartMs: 2000 });
    const dir = await makeTree(tree, path.join(work, 'src', 'slow'));
    const pushed = await runFerry(['push', dir, '--json'], { env });
    const version = (JSON.parse(pushed.stdout) as { bundle: { version: number } }).bundle.version;
    expect((await runFerry(['mark', `web@${version}`, 'passed'], { env })).code).toBe(0);
    const started = await new ApiClient(balancer.url, token, harnessTrust()).deploy({
      app: 'web',
      version,
      env: 'prod',
    });

    // Which replica drives it: the one holding its lease. It dies once the first host is done.
    const db = new pg.Client({ connectionString: database.url });
    await db.connect();
    const owner = await waitFor('the lease to be taken', async () => {
      const { rows } = await db.query<{ lease_owner: string | null }>(
        'select lease_owner from deployments where id = $1',
        [started.id],
      );
      return rows[0]?.lease_owner ?? undefined;
    });
    await db.end();
    expect(['replica-a', 'replica-b']).toContain(owner);
    const [dying, surviving] =
      owner === 'replica-a' ? [replicas.a, replicas.b] : [replicas.b, replicas.a];
    const survivor = new ApiClient(surviving.url, token, harnessTrust());
    await waitFor('the first host to be done', async () => {
      const deployment = await survivor.deployment(started.id);
      return deployment.installs[0]?.state === 'succeeded' ? deployment : undefined;
    });
    await dying.stop({ keepData: true, signal: 'SIGKILL' });
    expect((await survivor.deployment(started.id)).state).toBe('running');

    const done = await waitFor(
      'the surviving replica to finish the rollout',
      async () => {
        const deployment = await survivor.deployment(started.id);
        return deployment.state === 'running' ? undefined : deployment;
      },
      150_000,
    );
    expect(done.state, done.error ?? '').toBe('succeeded');
    expect(surviving.output()).toContain('took over a deployment from another server');
    expect(done.installs.map((i) => [i.host, i.purpose, i.state])).toEqual(
      HOSTS.map((h) => [h, 'deploy', 'succeeded']),
    );
    const all: DeploymentRecord[] = await survivor.deployments({ app: 'web' });
    expect(all.map((d) => d.id)).toEqual([started.id]);
    for (const install of done.installs) {
      const { root, port } = agents.get(install.host)!;
      const answer = (await (await harnessFetch(`http://127.0.0.1:${port}/health`)).json()) as {
        version: string;
      };
      expect(answer.version).toBe(String(version));
      expect(await readdir(path.join(root, 'agent', 'journal'))).toEqual([`${install.id}.json`]);
      const stdout = await readFile(
        path.join(root, 'apps', 'web', 'logs', String(version), 'service.stdout.log'),
        'utf8',
      );
      expect(stdout.match(/listening on/g), install.host).toHaveLength(1);
    }
  }, 240_000);
});
