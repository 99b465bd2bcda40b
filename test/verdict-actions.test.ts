import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VerdictMarkResult } from '../src/protocol/api.js';
import type { AppStatus, DeploymentRecord } from '../src/protocol/deployment-api.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { webAppTree } from './helpers/web-app.js';

/**
 * What a verdict sets going: a bundle marked passed goes on to an environment
 * with `autoPromote` by itself; one marked failed with `--rollback` takes every
 * environment where it is live back to the release before it.
 */

const CONFIG = `
environments:
  - { name: qa, autoDeploy: true }
  - { name: prod, requires: passed, autoPromote: true }
`;

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start({ config: CONFIG });
  await cluster.addHost('qa-1', 'qa');
  await cluster.addHost('prod-1', 'prod');
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

/** Waits for a deployment to end and returns it. */
function ended(id: string): Promise<DeploymentRecord> {
  return waitFor(`deployment ${id}`, async () => {
    const deployment = await cluster.api().deployment(id);
    return ['pending', 'running'].includes(deployment.state) ? undefined : deployment;
  });
}

const desired = async (env: string) =>
  (await cluster.json<AppStatus[]>(['status', 'web']))[0]!.environments.find((e) => e.env === env)!
    .desired?.version;

/** Pushes a version, waits for qa to take it, marks it passed, and waits for prod to take it. */
async function through(mark: string): Promise<number> {
  const version = await cluster.push(webAppTree(mark), mark);
  const [qa] = await cluster.api().deployments({ app: 'web', env: 'qa', limit: 1 });
  expect((await ended(qa!.id)).state).toBe('succeeded');
  const marked = await cluster.json<VerdictMarkResult>(['mark', `web@${version}`, 'passed']);
  // The answer names the promotion it started.
  expect(marked.deployments).toEqual([
    expect.objectContaining({ env: 'prod', kind: 'auto-promote', version, error: null }),
  ]);
  expect((await ended(marked.deployments[0]!.id!)).state).toBe('succeeded');
  return version;
}

describe('verdicts that set deployments going', () => {
  it('promotes a bundle marked passed to an environment with autoPromote', async () => {
    const v1 = await through('one');
    expect(await desired('prod')).toBe(v1);
    expect(await cluster.health('prod-1')).toMatchObject({ ok: true, version: String(v1) });
  }, 120_000);

  it('rolls back every environment where a bundle marked failed is live, with --rollback', async () => {
    const v1 = (await desired('prod'))!;
    const v2 = await through('two');
    expect(await cluster.health('prod-1')).toMatchObject({ version: String(v2) });
    // "Live on" is what the hosts report running: the agents' reports after the
    // install may come a moment after the deployment's end.
    for (const [env, host] of [
      ['qa', 'qa-1'],
      ['prod', 'prod-1'],
    ]) {
      await waitFor(`${host} to report web@${v2}`, async () => {
        const [status] = await cluster.json<AppStatus[]>(['status', 'web']);
        const reported = status!.environments.find((e) => e.env === env)!.hosts;
        return reported.find((h) => h.host === host)?.version === v2 ? true : undefined;
      });
    }

    // Without --rollback the answer says where it is live and how to roll back.
    const told = await cluster.ferry(['mark', `web@${v2}`, 'failed', '--note', 'totals wrong']);
    expect(told.code, told.stderr).toBe(0);
    expect(told.stdout).toContain(
      `it is the desired release in qa, prod: roll back with \`ferry mark web@${v2} failed --rollback\``,
    );
    expect(told.stdout).toContain('live on: prod-1 (prod), qa-1 (qa)');

    const rolled = await cluster.json<VerdictMarkResult>([
      'mark',
      `web@${v2}`,
      'failed',
      '--rollback',
    ]);
    expect(rolled.deployments.map((d) => [d.env, d.kind, d.version, d.error])).toEqual([
      ['qa', 'rollback', v1, null],
      ['prod', 'rollback', v1, null],
    ]);
    for (const started of rolled.deployments)
      expect((await ended(started.id!)).state).toBe('succeeded');
    expect(await desired('qa')).toBe(v1);
    expect(await desired('prod')).toBe(v1);
    for (const host of ['qa-1', 'prod-1']) {
      expect(await cluster.health(host)).toMatchObject({ ok: true, version: String(v1) });
    }
    const history = await cluster.json<{ type: string; env: string | null; version: number }[]>([
      'history',
      'web',
    ]);
    // The server's own lines (the reports it wrote as the rollbacks ended) aside.
    const changes = history.filter((e) => e.type !== 'report');
    expect(changes.slice(0, 3).map((e) => [e.type, e.env, e.version])).toEqual(
      expect.arrayContaining([
        ['rollback', 'prod', v1],
        ['rollback', 'qa', v1],
        ['verdict', null, v2],
      ]),
    );
  }, 180_000);
});
