import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentRecord } from '../src/protocol/deployment-api.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { webAppTree } from './helpers/web-app.js';

/**
 * Bake time end to end: a real server, four real agents and the real CLI. prod
 * bakes 3 s after the last batch and pauses on degradation. The agents'
 * continuous health reports are not on this branch: the test writes them with
 * `store.health.record(...)` into the server's own database (the call the
 * server makes when an agent reports), opened beside the running server.
 */

const PROD = ['prod-1', 'prod-2', 'prod-3', 'prod-4'];
const CONFIG = `
environments:
  - { name: qa }
  - name: prod
    strategy: { batch: 2, maxFailures: 1, bake: 5s, onDegrade: pause }
`;

let cluster: Cluster;
let store: SqliteStore;

beforeAll(async () => {
  cluster = await Cluster.start({ config: CONFIG });
  for (const name of PROD) await cluster.addHost(name, 'prod');
  store = SqliteStore.open(path.join(cluster.work, 'server', 'ferry.db'));
}, 120_000);

afterAll(async () => {
  await store?.close();
  await cluster?.close();
});

/** Deploys a version to prod without following it; its id. */
async function deploy(version: number): Promise<string> {
  const result = await cluster.ferry(['deploy', `web@${version}`, '--env', 'prod', '--detach']);
  expect(result.code, result.stderr).toBe(0);
  return /(dep_[0-9a-f]+)/.exec(result.stdout)![1]!;
}

async function stateOf(id: string): Promise<DeploymentRecord> {
  return cluster.api().deployment(id);
}

/** What prod-N's agent would report of web: failing with this answer, since now. */
async function failing(host: string, version: number, answer: string): Promise<void> {
  const now = new Date().toISOString();
  await store.health.record({
    hostId: cluster.host(host).hostId,
    app: 'web',
    version,
    state: 'failing',
    since: now,
    answer,
    restarts: 0,
    at: now,
  });
}

describe('a deployment that turns unhealthy on two of four hosts during its bake', () => {
  it('bakes a healthy release to success; pauses a bad one; a person rolls it back, or resumes it', async () => {
    const v1 = await cluster.push(webAppTree('one'), 'one');
    const first = await deploy(v1);
    await waitFor('v1 baking', async () =>
      (await stateOf(first)).state === 'baking' ? true : undefined,
    );
    const shown = await cluster.ferry(['deployment', first]);
    expect(shown.stdout).toMatch(/baking \(until \d\d:\d\d:\d\d\)/);
    await waitFor(
      'v1 to end',
      async () => ((await stateOf(first)).state === 'succeeded' ? true : undefined),
      30_000,
    );

    // v2: two hosts fail during the bake, more than maxFailures 1: paused.
    const v2 = await cluster.push(webAppTree('two'), 'two');
    const second = await deploy(v2);
    await waitFor(
      'v2 baking',
      async () => ((await stateOf(second)).state === 'baking' ? true : undefined),
      60_000,
    );
    await failing('prod-1', v2, 'HTTP 500');
    await failing('prod-3', v2, 'HTTP 500');
    await waitFor('v2 paused', async () =>
      (await stateOf(second)).state === 'paused' ? true : undefined,
    );
    // Still paused past the bake's end: it waits for a person.
    await new Promise((resolve) => setTimeout(resolve, 5_500));
    const paused = await cluster.ferry(['deployment', second]);
    expect(paused.stdout).toContain(
      'paused: 2 of 4 hosts turned unhealthy during the bake (more than maxFailures 1): prod-1 (HTTP 500), prod-3 (HTTP 500)',
    );
    const listed = await cluster.ferry(['deployments', '--app', 'web']);
    expect(listed.stdout).toMatch(new RegExp(`${second}\\s+web@${v2}\\s+prod\\s+deploy\\s+paused`));
    // A third deployment of web in prod is refused: the paused one holds the lock.
    const blocked = await cluster.ferry(['deploy', `web@${v1}`, '--env', 'prod', '--detach']);
    expect(blocked.stderr).toContain('E_DEPLOY_LOCKED');
    // Resuming what is not paused is refused, with its code.
    const notPaused = await cluster.ferry(['deployments', 'resume', first]);
    expect([notPaused.code, notPaused.stderr.includes('E_DEPLOYMENT_NOT_PAUSED')]).toEqual([
      1,
      true,
    ]);

    const rolled = await cluster.ferry(['deployments', 'rollback', second]);
    expect(rolled.code, rolled.stderr).toBe(0);
    expect(rolled.stdout).toContain(`${second}: rolling back: rolled back by`);
    await waitFor(
      'v2 rolled back',
      async () => ((await stateOf(second)).state === 'rolled_back' ? true : undefined),
      60_000,
    );
    for (const name of PROD)
      expect(await cluster.health(name)).toMatchObject({ ok: true, version: String(v1) });
    const reverts = (await stateOf(second)).installs.filter((i) => i.purpose === 'revert');
    expect(reverts.map((i) => i.host).sort()).toEqual(PROD);
    const [alert] = await store.alerts.list({ deploymentId: second });
    expect(alert).toMatchObject({
      kind: 'deployment-degraded',
      app: 'web',
      version: v2,
      env: 'prod',
      host: 'prod-1, prod-3',
    });

    // v3: the same trouble, and a person lets it go on.
    const v3 = await cluster.push(webAppTree('three'), 'three');
    const third = await deploy(v3);
    await waitFor(
      'v3 baking',
      async () => ((await stateOf(third)).state === 'baking' ? true : undefined),
      60_000,
    );
    await failing('prod-2', v3, 'HTTP 503');
    await failing('prod-4', v3, 'HTTP 503');
    await waitFor('v3 paused', async () =>
      (await stateOf(third)).state === 'paused' ? true : undefined,
    );
    const resumed = await cluster.ferry(['deployments', 'resume', third]);
    expect(resumed.code, resumed.stderr).toBe(0);
    await waitFor(
      'v3 to end',
      async () => ((await stateOf(third)).state === 'succeeded' ? true : undefined),
      30_000,
    );
    for (const name of PROD)
      expect(await cluster.health(name)).toMatchObject({ version: String(v3) });
  }, 300_000);
});
