import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentRecord } from '../src/protocol/deployment-api.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { webAppTree } from './helpers/web-app.js';

/**
 * A server killed in the middle of a rollout: started again over the same data
 * and port, it carries the deployment on from where it stood, and no host
 * installs the bundle twice. The dead server's lease on the deployment has to
 * expire first: `leaseSeconds: 3` keeps that short.
 */

const CONFIG = `
environments:
  - name: prod
    strategy: { batch: 1, maxFailures: 0, offlineTimeout: 60s }
rollout: { leaseSeconds: 3 }
`;
const HOSTS = ['prod-1', 'prod-2', 'prod-3'];

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start({ config: CONFIG });
  for (const name of HOSTS) await cluster.addHost(name, 'prod');
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

describe('a server restarted in the middle of a rollout', () => {
  it('finishes the rollout, with each host installed exactly once', async () => {
    // A service that takes 2 s to come up, so that the rollout is still going when the server dies.
    const files = webAppTree('slow', { slowStartMs: 2000 });
    const version = await cluster.push(files, 'slow');
    const started = await cluster.api().deploy({ app: 'web', version, env: 'prod' });

    // Once the first host is done, the server dies (SIGKILL: no chance to give up its lease).
    await waitFor('the first host to be done', async () => {
      const deployment = await cluster.api().deployment(started.id);
      return deployment.installs[0]?.state === 'succeeded' ? deployment : undefined;
    });
    await cluster.restartServer('SIGKILL');
    const before = await cluster.api().deployment(started.id);
    expect(before.state).toBe('running');
    expect(before.installs.some((i) => i.state !== 'succeeded')).toBe(true);

    const done = await waitFor(
      'the restarted server to finish the rollout',
      async () => {
        const deployment = await cluster.api().deployment(started.id);
        return deployment.state === 'running' ? undefined : deployment;
      },
      120_000,
    );
    expect(done.state, done.error ?? '').toBe('succeeded');
    expect(cluster.server.output()).not.toContain('"level":50');

    // One install per host, each run once by its agent and the service started once.
    expect(done.installs.map((i) => [i.host, i.purpose, i.state])).toEqual(
      HOSTS.map((h) => [h, 'deploy', 'succeeded']),
    );
    for (const install of done.installs) {
      const host = cluster.host(install.host);
      expect(await cluster.health(install.host)).toMatchObject({ version: String(version) });
      const journal = await readdir(path.join(host.root, 'agent', 'journal'));
      expect(journal).toEqual([`${install.id}.json`]);
      const entry = JSON.parse(
        await readFile(path.join(host.root, 'agent', 'journal', journal[0]!), 'utf8'),
      ) as { state: string; result: { ok: boolean } };
      expect(entry).toMatchObject({ state: 'finished', result: { ok: true } });
      const stdout = await readFile(
        path.join(host.root, 'apps', 'web', 'logs', String(version), 'service.stdout.log'),
        'utf8',
      );
      expect(stdout.match(/listening on/g)).toHaveLength(1);
    }
    const all = await cluster.json<DeploymentRecord[]>(['deployments']);
    expect(all.map((d) => [d.id, d.state])).toEqual([[started.id, 'succeeded']]);

    // The server that died left no lock to clear by hand: the next deployment is taken.
    const next = await cluster.api().deploy({ app: 'web', version, env: 'prod' });
    expect(next.state).toBe('running');
    expect((await cluster.api().cancelDeployment(next.id)).state).toBe('cancelled');
  }, 180_000);
});
