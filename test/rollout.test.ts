import { access, readlink } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppStatus, DeploymentRecord } from '../src/protocol/deployment-api.js';
import { Cluster } from './helpers/cluster.js';
import { webAppTree } from './helpers/web-app.js';
import { harnessFetch } from '../src/dev/harness-trust.js';

/**
 * A rolling deployment to four prod hosts (batch 1, maxFailures 0,
 * rollbackOnFailure) of a bundle whose health check fails on the third host:
 * the first two go back, the third has gone back by itself, the fourth is never
 * touched — and a client polling the four hosts all along always finds at least
 * three of them serving.
 */

const PROD = ['prod-1', 'prod-2', 'prod-3', 'prod-4'];
const CONFIG = `
environments:
  - { name: qa }
  - name: prod
    requires: passed
    strategy: { batch: 1, maxFailures: 0, rollbackOnFailure: true }
`;

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start({ config: CONFIG });
  for (const name of PROD) await cluster.addHost(name, 'prod');
  // The new version breaks on prod-3 only: its health check reads this variable.
  expect((await cluster.ferry(['vars', 'set', 'BREAK=no', '--env', 'prod'])).code).toBe(0);
  expect((await cluster.ferry(['vars', 'set', 'BREAK=yes', '--host', 'prod-3'])).code).toBe(0);
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

/** Marks a bundle passed and deploys it to prod; answers the CLI's result and the deployment. */
async function deployToProd(version: number) {
  expect((await cluster.ferry(['mark', `web@${version}`, 'passed'])).code).toBe(0);
  const result = await cluster.ferry(['deploy', `web@${version}`, '--env', 'prod']);
  const id = /\((dep_[0-9a-f]+)\)/.exec(result.stdout)![1]!;
  return { result, deployment: await cluster.json<DeploymentRecord>(['deployment', id]) };
}

/** Polls every host's /health until stopped; keeps, per round, how many answered healthy. */
function pollAvailability() {
  const rounds: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      // A generous timeout: on a busy machine a slow answer is still an answer; a
      // host that is down refuses the connection at once.
      const answers = await Promise.all(
        PROD.map((name) =>
          harnessFetch(`http://127.0.0.1:${cluster.host(name).port}/health`, {
            signal: AbortSignal.timeout(10_000),
          })
            .then((r) => r.json() as Promise<{ ok: boolean }>)
            .catch(() => null),
        ),
      );
      rounds.push(answers.filter((a) => a?.ok === true).length);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return rounds;
    },
  };
}

describe('a rolling deployment whose third host fails its health check', () => {
  it('puts the hosts done back, never touches the fourth, and keeps three of four serving', async () => {
    const v1 = await cluster.push(webAppTree('one'), 'one');
    const first = await deployToProd(v1);
    expect(first.result.code, first.result.stderr).toBe(0);
    for (const name of PROD) expect(await cluster.health(name)).toMatchObject({ version: '1' });

    const v2 = await cluster.push(
      webAppTree('two', { breakable: true, healthTimeout: '3s' }),
      'two',
    );
    const poller = pollAvailability();
    const { result, deployment } = await deployToProd(v2);
    const rounds = await poller.stop();

    expect(result.code).toBe(1);
    expect(result.stdout).toContain('rolled back: 1 host failed, more than maxFailures 0: prod-3');
    expect(deployment.state).toBe('rolled_back');
    const installs = deployment.installs.map((i) => [i.host, i.purpose, i.version, i.state]);
    expect(installs).toEqual([
      ['prod-1', 'deploy', v2, 'succeeded'],
      ['prod-2', 'deploy', v2, 'succeeded'],
      ['prod-3', 'deploy', v2, 'failed'],
      ['prod-4', 'deploy', v2, 'cancelled'],
      // Put back last done first, one at a time.
      ['prod-2', 'revert', v1, 'succeeded'],
      ['prod-1', 'revert', v1, 'succeeded'],
    ]);
    const third = deployment.installs.find((i) => i.host === 'prod-3')!;
    expect(third.rolledBack).toBe(true);
    expect(third.error).toContain('health check failed');
    const fourth = deployment.installs.find((i) => i.host === 'prod-4')!;
    expect(fourth.step).toBeNull();

    // On every host, v1 is current and serving; prod-4 never even got v2's files.
    for (const name of PROD) {
      const appDir = path.join(cluster.host(name).root, 'apps', 'web');
      expect(await readlink(path.join(appDir, 'current'))).toBe('releases/1');
      expect(await cluster.health(name)).toMatchObject({ ok: true, version: '1', mark: 'one' });
    }
    await expect(
      access(path.join(cluster.host('prod-4').root, 'apps', 'web', 'releases', String(v2))),
    ).rejects.toThrow();
    const [status] = await cluster.json<AppStatus[]>(['status', 'web']);
    expect(status!.environments.find((e) => e.env === 'prod')!.desired?.version).toBe(v1);

    // Availability: the rollout, the failure and the putting back never took down more than one.
    expect(rounds.length).toBeGreaterThan(20);
    expect(Math.min(...rounds)).toBeGreaterThanOrEqual(3);
  }, 180_000);
});
