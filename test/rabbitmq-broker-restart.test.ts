import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentRecord } from '../src/protocol/deployment-api.js';
import { rabbitmqSetup } from './helpers/backends.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { rabbitmqctl } from './helpers/rabbitmq.js';
import { amqpUrl } from './helpers/services.js';
import { webAppTree } from './helpers/web-app.js';

/**
 * The broker stopped and started (`rabbitmqctl stop_app` / `start_app`) in the
 * middle of a rollout: server and agents reconnect, declare again, publish again
 * what was not confirmed, and the rollout finishes with every host installed
 * exactly once. It stops the whole broker, so `npm test` runs this file alone,
 * after the others.
 */

const url = amqpUrl();
const HOSTS = ['prod-1', 'prod-2', 'prod-3'];

describe.skipIf(!url)('a broker restart in the middle of a rollout', () => {
  let cluster: Cluster;
  let setup: ReturnType<typeof rabbitmqSetup>;

  beforeAll(async () => {
    setup = rabbitmqSetup(url!);
    cluster = await Cluster.start({
      ...setup.options,
      config: `${setup.options.config!}environments:\n  - name: prod\n    strategy: { batch: 1, maxFailures: 0, offlineTimeout: 120s }\n`,
    });
    for (const name of HOSTS) await cluster.addHost(name, 'prod');
  }, 120_000);

  afterAll(async () => {
    // Whatever happened, the broker is left running for whoever comes next.
    await rabbitmqctl('start_app').catch(() => undefined);
    await cluster?.close();
    await setup?.cleanup();
  });

  it('finishes the rollout, with each host installed exactly once', async () => {
    // A service that takes 2 s to come up, so that the broker goes down mid-rollout.
    const files = webAppTree('slow', { slowStartMs: 2000 });
    const version = await cluster.push(files, 'slow');
    const started = await cluster.api().deploy({ app: 'web', version, env: 'prod' });
    await waitFor('the first host to be done', async () => {
      const deployment = await cluster.api().deployment(started.id);
      return deployment.installs[0]?.state === 'succeeded' ? deployment : undefined;
    });

    await rabbitmqctl('stop_app');
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await rabbitmqctl('start_app');
    await rabbitmqctl('await_startup');

    const done = await waitFor(
      'the rollout to end',
      async () => {
        const deployment = await cluster.json<DeploymentRecord>(['deployment', started.id]);
        return deployment.state === 'running' ? undefined : deployment;
      },
      150_000,
    );
    expect(done.state, done.error ?? '').toBe('succeeded');
    expect(done.installs.map((i) => [i.host, i.purpose, i.state])).toEqual(
      HOSTS.map((h) => [h, 'deploy', 'succeeded']),
    );
    expect(cluster.server.output()).toContain('lost the broker connection');
    for (const install of done.installs) {
      const host = cluster.host(install.host);
      expect(await cluster.health(install.host)).toMatchObject({ version: String(version) });
      expect(await readdir(path.join(host.root, 'agent', 'journal'))).toEqual([
        `${install.id}.json`,
      ]);
      const stdout = await readFile(
        path.join(host.root, 'apps', 'web', 'logs', String(version), 'service.stdout.log'),
        'utf8',
      );
      expect(stdout.match(/listening on/g), install.host).toHaveLength(1);
    }
  }, 240_000);
});
