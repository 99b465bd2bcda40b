import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentRecord } from '../src/protocol/deployment-api.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { envAppTree, runningEnv } from './helpers/env-app.js';

/**
 * A catch-up installs what its deployment froze: v1 deployed with COLOUR=a
 * while qa-2 is away; COLOUR set to b; when qa-2 returns it runs v1 with
 * COLOUR=a (read from the running process's environment), and the catch-up
 * install in `ferry deployment <id>` shows that snapshot. A host that enrolls
 * afterwards, with no install planned for it, is resolved as the deployment
 * was: today's values for a release new to the environment.
 */

const CONFIG = `
environments:
  - name: qa
    strategy: { batch: 1, maxFailures: 0, rollbackOnFailure: false, offlineTimeout: 2s }
`;

const colourTree = () => envAppTree('paint', { env: { COLOUR: '${COLOUR}' } });

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start({ config: CONFIG });
  await cluster.addHost('qa-1', 'qa');
  await cluster.addHost('qa-2', 'qa');
  await cluster.setVar('COLOUR', 'a', { env: 'qa' });
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

/** Waits until the host's service is the one of `version`. */
function serving(host: string, version: number): Promise<Record<string, string>> {
  return waitFor(
    `paint@${version} serving on ${host}`,
    async () => {
      const env = await runningEnv(cluster.host(host).root, 'paint');
      return env?.FERRY_VERSION === String(version) ? env : undefined;
    },
    60_000,
  );
}

describe('a catch-up uses the snapshot of its deployment', () => {
  let v1 = 0;
  let deploymentId = '';

  it('ends partial with the host that was away, which froze COLOUR=a for it', async () => {
    await cluster.stopAgent('qa-2');
    v1 = await cluster.push(colourTree(), 'one');
    const deployed = await cluster.ferry(['deploy', `paint@${v1}`, '--env', 'qa']);
    expect(deployed.code, deployed.stdout).toBe(1);
    deploymentId = /\((dep_[0-9a-f]+)\)/.exec(deployed.stdout)![1]!;
    const record = await cluster.json<DeploymentRecord>(['deployment', deploymentId]);
    expect(record.state).toBe('partial');
    expect(record.installs.map((i) => [i.host, i.state])).toEqual([
      ['qa-1', 'succeeded'],
      ['qa-2', 'skipped'],
    ]);
    expect((await serving('qa-1', v1)).COLOUR).toBe('a');
  }, 120_000);

  it('starts the returning host with the variables its deployment froze, not today’s', async () => {
    await cluster.setVar('COLOUR', 'b', { env: 'qa' });
    await cluster.startAgentAgain('qa-2');
    const env = await serving('qa-2', v1);
    expect(env.COLOUR).toBe('a');
    // The catch-up is recorded in that deployment, with the snapshot it used.
    const record = await waitFor('the deployment to succeed', async () => {
      const now = await cluster.json<DeploymentRecord>(['deployment', deploymentId]);
      return now.state === 'succeeded' ? now : undefined;
    });
    const catchUp = record.installs.find((i) => i.host === 'qa-2' && i.purpose === 'catch-up');
    expect(catchUp).toMatchObject({ state: 'succeeded', version: v1 });
    expect(catchUp!.variables).toContainEqual({ name: 'COLOUR', value: 'a', secret: false });
    const shown = await cluster.ferry(['deployment', deploymentId]);
    expect(shown.stdout).toContain('COLOUR=a');
  }, 120_000);

  it('resolves a host that enrolls later as the deployment did: today’s values for a new release', async () => {
    await cluster.addHost('qa-3', 'qa');
    const env = await serving('qa-3', v1);
    expect(env.COLOUR).toBe('b');
    const record = await cluster.json<DeploymentRecord>(['deployment', deploymentId]);
    const catchUp = record.installs.find((i) => i.host === 'qa-3');
    expect(catchUp).toMatchObject({ purpose: 'catch-up', state: 'succeeded' });
    expect(catchUp!.variables).toContainEqual({ name: 'COLOUR', value: 'b', secret: false });
  }, 120_000);
});
