import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppStatus, DeploymentRecord } from '../src/protocol/deployment-api.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { webAppTree } from './helpers/web-app.js';

/**
 * How deployments end, with a real server and real agents: one to an
 * environment where no host has the app's role says so; one left `partial` by a
 * host that was away becomes `succeeded` when the host catches up; a cancelled
 * one leaves records that agree with the hosts, the desired release as it was,
 * and catch-up touching nothing; and a bundle rolled back from prod can be
 * promoted there again, unless it was marked failed.
 */

const CONFIG = `
environments:
  - { name: lab }
  - { name: qa }
  - name: prod
    requires: passed
    strategy: { batch: 1, maxFailures: 0, rollbackOnFailure: true, offlineTimeout: 3s }
`;

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start({ config: CONFIG });
  await cluster.addHost('qa-1', 'qa');
  for (const name of ['prod-1', 'prod-2', 'prod-3']) await cluster.addHost(name, 'prod');
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

const prodStatus = async () =>
  (await cluster.json<AppStatus[]>(['status', 'web']))[0]!.environments.find(
    (e) => e.env === 'prod',
  )!;

const deploymentId = (stdout: string) => /\((dep_[0-9a-f]+)\)/.exec(stdout)![1]!;

/** Waits until every prod host reports `version`. */
function prodRuns(version: number) {
  return waitFor(`prod on web@${version}`, async () => {
    const status = await prodStatus();
    return status.hosts.every((h) => h.version === version) ? status : undefined;
  });
}

describe('how deployments end', () => {
  let v1: number;
  let v2: number;

  it('does not call a deployment to an environment without a host of the role succeeded', async () => {
    v1 = await cluster.push(webAppTree('one'), 'one');
    const deployed = await cluster.ferry(['deploy', `web@${v1}`, '--env', 'lab']);
    expect(deployed.code, deployed.stdout).toBe(1);
    expect(deployed.stdout).toContain(
      `no hosts: no host in lab has the role web: web@${v1} was installed nowhere`,
    );
    const record = await cluster.json<DeploymentRecord>([
      'deployment',
      deploymentId(deployed.stdout),
    ]);
    expect(record).toMatchObject({ state: 'no_hosts', installs: [] });
  }, 60_000);

  it('turns a partial deployment into succeeded once the host that was away catches up', async () => {
    const qa = await cluster.ferry(['deploy', `web@${v1}`, '--env', 'qa']);
    expect(qa.code, qa.stdout).toBe(0);
    expect((await cluster.ferry(['mark', `web@${v1}`, 'passed'])).code).toBe(0);
    const promoted = await cluster.ferry(['promote', `web@${v1}`]);
    expect(promoted.code, promoted.stdout).toBe(0);

    v2 = await cluster.push(webAppTree('two'), 'two');
    expect((await cluster.ferry(['mark', `web@${v2}`, 'passed'])).code).toBe(0);
    await cluster.stopAgent('prod-2');
    const deployed = await cluster.ferry(['deploy', `web@${v2}`, '--env', 'prod']);
    expect(deployed.code).toBe(1);
    expect(deployed.stdout).toContain(
      `partial: not on web@${v2}: prod-2 (offline; catches up when it returns)`,
    );
    const id = deploymentId(deployed.stdout);

    await cluster.startAgentAgain('prod-2');
    const caughtUp = await waitFor('the deployment to succeed', async () => {
      const record = await cluster.api().deployment(id);
      return record.state === 'succeeded' ? record : undefined;
    });
    expect(caughtUp.error).toBeNull();
    // What brought prod-2 there is in the same deployment.
    const ofHost = caughtUp.installs.filter((i) => i.host === 'prod-2');
    expect(ofHost.some((i) => i.version === v2 && i.state === 'succeeded')).toBe(true);
    const shown = await cluster.ferry(['deployment', id]);
    expect(shown.stdout).toContain(`${id}: deploy web@${v2} to prod, succeeded`);
    expect(shown.stdout).toContain(`succeeded: web@${v2} runs on prod-1, prod-2, prod-3`);
    await prodRuns(v2);
  }, 120_000);

  it('cancels: the host installing finishes, the others get nothing, and nothing undoes it', async () => {
    // Each host takes 3 s to come up: time to cancel while the first installs.
    const v3 = await cluster.push(webAppTree('three', { slowStartMs: 3000 }), 'three');
    expect((await cluster.ferry(['mark', `web@${v3}`, 'passed'])).code).toBe(0);
    const started = await cluster.api().deploy({ app: 'web', version: v3, env: 'prod' });
    await waitFor('prod-1 to be installing', async () => {
      const record = await cluster.api().deployment(started.id);
      return record.installs.find((i) => i.host === 'prod-1' && i.state === 'running');
    });
    const cancelled = await cluster.ferry(['cancel', started.id]);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toContain(`${started.id}: cancelled\n`);
    expect(cancelled.stdout).toContain(`still installing web@${v3}: prod-1`);
    expect(cancelled.stdout).toContain(`did not get web@${v3}: prod-2, prod-3`);

    // prod-1 finishes; the record says so, and so does the host.
    const record = await waitFor('prod-1 to finish', async () => {
      const now = await cluster.api().deployment(started.id);
      return now.installs.find((i) => i.host === 'prod-1')?.state === 'succeeded' ? now : undefined;
    });
    expect(record.state).toBe('cancelled');
    expect(record.installs.map((i) => [i.host, i.state])).toEqual([
      ['prod-1', 'succeeded'],
      ['prod-2', 'cancelled'],
      ['prod-3', 'cancelled'],
    ]);
    // Each install's record says when it ended, the cancelled ones too.
    expect(record.installs.filter((i) => i.finishedAt === null).map((i) => i.host)).toEqual([]);
    await waitFor('prod-1 to serve web@3', async () =>
      (await cluster.health('prod-1'))?.version === String(v3) ? true : undefined,
    );
    const shown = await cluster.ferry(['deployment', started.id]);
    expect(shown.stdout).toContain(`got web@${v3}: prod-1`);
    expect(shown.stdout).toContain(`did not get web@${v3}: prod-2, prod-3`);

    // The environment still wants v2; prod-1 is ahead of it.
    const status = await waitFor('prod-1 to report web@3', async () => {
      const now = await prodStatus();
      return now.hosts.find((h) => h.host === 'prod-1')?.version === v3 ? now : undefined;
    });
    expect(status.desired).toMatchObject({ version: v2 });
    const lines = await cluster.ferry(['status', 'web']);
    expect(lines.stdout).toMatch(
      // Continuous health may stand between the host's health and its drift.
      new RegExp(
        `prod-1\\s+@${v3}\\s+ok\\s+(?:healthy since [0-9: -]+\\s+)?\\(ahead of the desired @${v2}\\)`,
      ),
    );

    // Catch-up looks at every host when its agent connects: it installs nothing.
    for (const name of ['prod-1', 'prod-2']) {
      await cluster.stopAgent(name);
      await cluster.startAgentAgain(name);
    }
    await waitFor('prod-1 and prod-2 back', async () => {
      const now = await prodStatus();
      return now.hosts.every((h) => h.connected) ? now : undefined;
    });
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const installs = (await cluster.api().deployments({ app: 'web', env: 'prod' })).flatMap(
      (d) => d.installs,
    );
    expect(installs.filter((i) => i.purpose === 'catch-up').map((i) => i.host)).toEqual([
      // Only the one of the partial deployment above.
      'prod-2',
    ]);
    expect((await cluster.health('prod-1'))?.version).toBe(String(v3));
    expect((await cluster.health('prod-2'))?.version).toBe(String(v2));
    expect((await cluster.health('prod-3'))?.version).toBe(String(v2));
  }, 120_000);

  it('promotes a bundle again after prod was rolled back from it, but not once marked failed', async () => {
    const rolled = await cluster.ferry(['rollback', 'web', '--env', 'prod', '--to', String(v1)]);
    expect(rolled.code, rolled.stdout).toBe(0);
    await prodRuns(v1);

    const promoted = await cluster.ferry(['promote', `web@${v2}`]);
    expect(promoted.code, promoted.stderr).toBe(0);
    expect(promoted.stdout).toContain(`promote web@${v2} to prod`);
    expect((await prodStatus()).desired).toMatchObject({ version: v2 });
    await prodRuns(v2);

    const back = await cluster.ferry(['rollback', 'web', '--env', 'prod', '--to', String(v1)]);
    expect(back.code, back.stdout).toBe(0);
    expect((await cluster.ferry(['mark', `web@${v2}`, 'failed'])).code).toBe(0);
    const refused = await cluster.ferry(['promote', `web@${v2}`]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('[E_VERDICT_REQUIRED]');
    expect((await prodStatus()).desired).toMatchObject({ version: v1 });
  }, 180_000);
});
