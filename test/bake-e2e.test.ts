import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertRecord } from '../src/protocol/alert-api.js';
import type { DeploymentRecord } from '../src/protocol/deployment-api.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { webAppTree } from './helpers/web-app.js';

/**
 * Bake time end to end: a real server, four real agents, real services and the
 * real CLI. The unhealthiness is real: a release's /health answers 503 on a
 * host while that host's sick file exists (one file per host and release),
 * made once the deployment is baking, after the installs' health checks
 * passed; each agent checks its service every 200 ms (`health.every`) and
 * reports the change itself. The bake is 5 s (a few minutes in real use).
 *
 * prod first rolls back by itself (`onDegrade: rollback`); then its config
 * says `pause` (the server started again with it) and a person rolls back, or
 * lets the deployment go on; last it bakes each batch (`batchBake: 3s`) and a
 * release that fails on the first batch never reaches the second.
 */

const PROD = ['prod-1', 'prod-2', 'prod-3', 'prod-4'];
const config = (onDegrade: string, batchBake = '0s') => `
environments:
  - { name: qa }
  - name: prod
    strategy: { batch: 2, maxFailures: 1, bake: 5s, batchBake: ${batchBake}, onDegrade: ${onDegrade} }
`;

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start({ config: config('rollback') });
  for (const name of PROD) await cluster.addHost(name, 'prod');
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

/** A release of web marked `mark` that fails its health check on a host while sickFile(mark, host) exists. */
function release(mark: string): Record<string, string> {
  return webAppTree(mark, {
    sickFile: path.join(cluster.work, `sick-${mark}-{port}`),
    healthEvery: '200ms',
    healthTimeout: '3s',
  });
}

/** Makes web of `mark` fail its health check on `host` (its service answers 503). */
async function sicken(mark: string, host: string): Promise<void> {
  await writeFile(path.join(cluster.work, `sick-${mark}-${cluster.host(host).port}`), '');
}

/** Deploys a version to prod without following it; its id. */
async function deploy(version: number): Promise<string> {
  const result = await cluster.ferry(['deploy', `web@${version}`, '--env', 'prod', '--detach']);
  expect(result.code, result.stderr).toBe(0);
  return /(dep_[0-9a-f]+)/.exec(result.stdout)![1]!;
}

async function stateOf(id: string): Promise<DeploymentRecord> {
  return cluster.api().deployment(id);
}

/** Waits for a deployment to be in `state`; its record then. */
function until(id: string, state: DeploymentRecord['state'], ms = 60_000) {
  return waitFor(
    `${id} ${state}`,
    async () => {
      const record = await stateOf(id);
      return record.state === state ? record : undefined;
    },
    ms,
  );
}

/** What every prod host's service answers on /health now. */
async function answers() {
  return Promise.all(PROD.map((name) => cluster.health(name)));
}

/** "2 of 4 hosts turned unhealthy … : a (HTTP 503 from …), b (HTTP 503 from …)", as a pattern. */
function degradedWords(a: string, b: string, of = 4): RegExp {
  const answer = 'HTTP 503 from http://127\\.0\\.0\\.1:\\d+/health, expected 200: [^)]*';
  return new RegExp(
    `2 of ${of} hosts turned unhealthy during the bake \\(more than maxFailures 1\\): ` +
      `${a} \\(${answer}\\), ${b} \\(${answer}\\)`,
  );
}

/** prod's `deployment-degraded` alerts, open or not, by deployment. */
async function degradedAlerts(): Promise<Map<string | null, AlertRecord>> {
  const alerts = await cluster.json<AlertRecord[]>(['alerts', '--env', 'prod']);
  return new Map(
    alerts.filter((a) => a.kind === 'deployment-degraded').map((a) => [a.deploymentId, a]),
  );
}

describe('a deployment that turns unhealthy on two of four hosts during its bake', () => {
  let v1 = 0;

  it('bakes a healthy release to success, and rolls a release back by itself when two hosts fail during the bake', async () => {
    v1 = await cluster.push(release('one'), 'one');
    const first = await deploy(v1);
    await until(first, 'baking');
    const shown = await cluster.ferry(['deployment', first]);
    expect(shown.stdout).toMatch(/baking \(until \d\d:\d\d:\d\d\)/);
    await until(first, 'succeeded', 30_000);

    const v2 = await cluster.push(release('two'), 'two');
    const second = await deploy(v2);
    const baking = await until(second, 'baking');
    // Every install passed its health check before the bake began.
    expect(
      baking.installs.filter((i) => i.purpose === 'deploy').map((i) => [i.host, i.state]),
    ).toEqual(PROD.map((name) => [name, 'succeeded']));
    await sicken('two', 'prod-1');
    await sicken('two', 'prod-3');

    const rolled = await until(second, 'rolled_back');
    expect(rolled.error, cluster.logs()).toMatch(degradedWords('prod-1', 'prod-3'));
    const record = await cluster.json<DeploymentRecord>(['deployment', second]);
    expect(record).toMatchObject({ state: 'rolled_back', error: rolled.error });
    const reverts = rolled.installs.filter((i) => i.purpose === 'revert');
    expect(reverts.map((i) => [i.host, i.state]).sort()).toEqual(
      PROD.map((name) => [name, 'succeeded']),
    );
    // Each host runs the previous release again, healthy.
    expect(await answers()).toEqual(
      PROD.map(() => ({ ok: true, version: String(v1), mark: 'one' })),
    );
    // The agents report it: web@v1 healthy on every host.
    await waitFor('v1 healthy everywhere', async () => {
      const [app] = await cluster.api().status('web');
      const hosts = app?.environments.find((e) => e.env === 'prod')?.hosts ?? [];
      return hosts.length === 4 &&
        hosts.every((h) => h.service?.state === 'healthy' && h.service.version === v1)
        ? true
        : undefined;
    });
    const alerts = await cluster.json<AlertRecord[]>(['alerts', '--env', 'prod']);
    // The deployment's alert, cleared: the release it warned of no longer runs.
    expect(alerts.find((a) => a.kind === 'deployment-degraded')).toMatchObject({
      app: 'web',
      version: v2,
      host: 'prod-1, prod-3',
      deploymentId: second,
      clearedBecause: 'the deployment was rolled back',
    });
    // Each sick host's own alert named v2, and cleared once v1 ran healthy there.
    const failing = alerts
      .filter((a) => a.kind === 'service-failing')
      .map((a) => [a.host, a.version, a.deploymentId, a.clearedBecause])
      .sort();
    expect(failing).toEqual([
      ['prod-1', v2, second, 'its health check passes again'],
      ['prod-3', v2, second, 'its health check passes again'],
    ]);
  }, 180_000);

  it('pauses a release that fails during its bake; a person rolls it back, or lets it go on', async () => {
    // prod now pauses when degraded: the server starts again with that config
    // (the last --config given is the one read).
    const paused = path.join(cluster.work, 'server-pause.yml');
    await writeFile(paused, config('pause'), { mode: 0o600 });
    await cluster.restartServer('SIGTERM', ['--config', paused]);
    await waitFor('the agents back', async () => {
      const hosts = await cluster.api().hosts();
      return hosts.filter((h) => h.connected).length === PROD.length ? true : undefined;
    });

    const v3 = await cluster.push(release('three'), 'three');
    const third = await deploy(v3);
    await until(third, 'baking');
    await sicken('three', 'prod-1');
    await sicken('three', 'prod-3');
    await until(third, 'paused');
    // Still paused past the bake's end: it waits for a person.
    await new Promise((resolve) => setTimeout(resolve, 5_500));
    const shown = await cluster.ferry(['deployment', third]);
    expect(shown.stdout).toMatch(new RegExp(`paused: ${degradedWords('prod-1', 'prod-3').source}`));
    const listed = await cluster.ferry(['deployments', '--app', 'web']);
    expect(listed.stdout).toMatch(new RegExp(`${third}\\s+web@${v3}\\s+prod\\s+deploy\\s+paused`));
    // Another deployment of web in prod is refused: the paused one holds the lock.
    const blocked = await cluster.ferry(['deploy', `web@${v1}`, '--env', 'prod', '--detach']);
    expect(blocked.stderr).toContain('E_DEPLOY_LOCKED');
    // The two sick hosts still fail; the others still run v3.
    const during = await answers();
    expect(during.map((a) => [a?.ok, a?.version])).toEqual([
      [false, String(v3)],
      [true, String(v3)],
      [false, String(v3)],
      [true, String(v3)],
    ]);

    const rolled = await cluster.ferry(['deployments', 'rollback', third]);
    expect(rolled.code, rolled.stderr).toBe(0);
    expect(rolled.stdout).toContain(`${third}: rolling back: rolled back by`);
    const back = await until(third, 'rolled_back');
    expect(back.error).toMatch(degradedWords('prod-1', 'prod-3'));
    expect(await answers()).toEqual(
      PROD.map(() => ({ ok: true, version: String(v1), mark: 'one' })),
    );

    // v4: the same trouble on the two other hosts, and a person lets it go on.
    const v4 = await cluster.push(release('four'), 'four');
    const fourth = await deploy(v4);
    await until(fourth, 'baking');
    // Resuming what is not paused is refused, with its code.
    const notPaused = await cluster.ferry(['deployments', 'resume', fourth]);
    expect([notPaused.code, notPaused.stderr.includes('E_DEPLOYMENT_NOT_PAUSED')]).toEqual([
      1,
      true,
    ]);
    await sicken('four', 'prod-2');
    await sicken('four', 'prod-4');
    const held = await until(fourth, 'paused');
    expect(held.error).toMatch(degradedWords('prod-2', 'prod-4'));
    // As the issue spells it: `ferry deployment resume <id>`.
    const resumed = await cluster.ferry(['deployment', 'resume', fourth]);
    expect(resumed.code, resumed.stderr).toBe(0);
    await until(fourth, 'succeeded', 30_000);
    // v3's alert cleared as it was rolled back; v4's stays open: it runs, degraded.
    const degraded = await degradedAlerts();
    expect(degraded.get(third)).toMatchObject({ clearedBecause: 'the deployment was rolled back' });
    expect(degraded.get(fourth)).toMatchObject({ clearedAt: null, host: expect.any(String) });
    const after = await answers();
    expect(after.map((a) => [a?.ok, a?.version])).toEqual([
      [true, String(v4)],
      [false, String(v4)],
      [true, String(v4)],
      [false, String(v4)],
    ]);
    for (const name of ['prod-2', 'prod-4'])
      await rm(path.join(cluster.work, `sick-four-${cluster.host(name).port}`));
    await waitFor('v4 healthy everywhere', async () =>
      (await answers()).every((a) => a?.ok === true) ? true : undefined,
    );
  }, 240_000);

  it('with batchBake, a release that fails on its first batch stops there: the second batch never gets it', async () => {
    const baked = path.join(cluster.work, 'server-batch-bake.yml');
    await writeFile(baked, config('rollback', '3s'), { mode: 0o600 });
    await cluster.restartServer('SIGTERM', ['--config', baked]);
    await waitFor('the agents back', async () => {
      const hosts = await cluster.api().hosts();
      return hosts.filter((h) => h.connected).length === PROD.length ? true : undefined;
    });
    const v4 = Number((await answers())[0]?.version);

    const v5 = await cluster.push(release('five'), 'five');
    const fifth = await deploy(v5);
    const baking = await until(fifth, 'baking');
    // The first batch's bake: prod-1 and prod-2 took v5, prod-3 and prod-4 wait.
    expect(baking.bake?.batch).toBe(0);
    expect(
      baking.installs.filter((i) => i.purpose === 'deploy').map((i) => [i.host, i.state]),
    ).toEqual([
      ['prod-1', 'succeeded'],
      ['prod-2', 'succeeded'],
      ['prod-3', 'pending'],
      ['prod-4', 'pending'],
    ]);
    await sicken('five', 'prod-1');
    await sicken('five', 'prod-2');

    const rolled = await until(fifth, 'rolled_back');
    // Two of the two hosts it was watching.
    expect(rolled.error).toMatch(degradedWords('prod-1', 'prod-2', 2));
    expect(
      rolled.installs
        .filter((i) => i.purpose === 'deploy')
        .map((i) => [i.host, i.state])
        .sort(),
    ).toEqual([
      ['prod-1', 'succeeded'],
      ['prod-2', 'succeeded'],
      ['prod-3', 'cancelled'],
      ['prod-4', 'cancelled'],
    ]);
    // Every host runs v4: the first two again, the others all along.
    expect(await answers()).toEqual(
      PROD.map(() => ({ ok: true, version: String(v4), mark: 'four' })),
    );
    // v5's alert cleared; v4's, of the release that still runs, stays open.
    const [, v4Alert] = [...(await degradedAlerts()).entries()].find(([, a]) => a.version === v4)!;
    expect(v4Alert.clearedAt).toBeNull();
    expect((await degradedAlerts()).get(fifth)).toMatchObject({
      clearedBecause: 'the deployment was rolled back',
    });

    // A healthy release deployed over v4 clears v4's alert.
    const v6 = await cluster.push(release('six'), 'six');
    const sixth = await deploy(v6);
    await until(sixth, 'succeeded', 60_000);
    expect((await degradedAlerts()).get(v4Alert.deploymentId)).toMatchObject({
      clearedBecause: `web@${v6} was deployed over it (${sixth})`,
    });
    expect(await cluster.json<AlertRecord[]>(['alerts', '--open', '--env', 'prod'])).toEqual([]);
  }, 180_000);
});
