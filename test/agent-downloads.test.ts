import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentRecord, HistoryEntry } from '../src/protocol/deployment-api.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { appTree, makeTree } from './helpers/source-tree.js';
import { harnessFetch } from '../src/dev/harness-trust.js';

/**
 * Who may fetch which bundle, and who an automatic deployment is recorded as
 * started by. One real server and one real agent in qa (where a push deploys).
 */

let cluster: Cluster;
/** The qa host's own token, as its agent keeps it. */
let hostToken: string;
/** An agent token made for enrolment and never used. */
let enrolToken: string;

/** GETs a bundle's bytes with a token; answers the status and the error code, if any. */
async function download(
  app: string,
  version: number,
  token: string,
): Promise<{ status: number; code: string | undefined; bytes: number }> {
  const response = await harnessFetch(
    `${cluster.server.url}/api/v1/apps/${app}/bundles/${version}/download`,
    { headers: { authorization: `Bearer ${token}` } },
  );
  const body = Buffer.from(await response.arrayBuffer());
  const code =
    response.status >= 400 ? (JSON.parse(body.toString()) as { code: string }).code : undefined;
  return { status: response.status, code, bytes: body.length };
}

beforeAll(async () => {
  cluster = await Cluster.start();
  const host = await cluster.addHost('qa-1', 'qa', { roles: ['web'] });
  hostToken = (
    JSON.parse(await readFile(path.join(host.root, 'agent', 'identity.json'), 'utf8')) as {
      token: string;
    }
  ).token;
  enrolToken = await cluster.token('agent', 'qa');
  // web reaches qa-1 (its role); api reaches no host at all.
  await cluster.push(appTree('web', 'web one'), 'web-1');
  await cluster.push(appTree('api', 'api one'), 'api-1');
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

describe('agent tokens and bundle downloads', () => {
  it('an enrolment token downloads nothing, not even a bundle a host was sent', async () => {
    expect(await download('web', 1, enrolToken)).toMatchObject({
      status: 403,
      code: 'E_FORBIDDEN',
    });
    expect(await download('api', 1, enrolToken)).toMatchObject({
      status: 403,
      code: 'E_FORBIDDEN',
    });
  });

  it("a host downloads the bundle it was sent a job for, and no other app's", async () => {
    const sent = await download('web', 1, hostToken);
    expect(sent.status).toBe(200);
    const bundle = await cluster.api().bundle('web', 1);
    expect(sent.bytes).toBe(bundle.size);
    expect(await download('api', 1, hostToken)).toMatchObject({
      status: 403,
      code: 'E_FORBIDDEN',
    });
    // Not even whether a bundle exists: a version never pushed is refused the same way.
    expect(await download('web', 99, hostToken)).toMatchObject({
      status: 403,
      code: 'E_FORBIDDEN',
    });
  });

  it("a person's token still downloads any bundle", async () => {
    expect((await download('api', 1, cluster.server.adminToken)).status).toBe(200);
  });
});

describe('who started an automatic deployment', () => {
  it('a push by a deployer bound to dev starts a qa deployment recorded as qa’s policy, triggered by that deployer', async () => {
    const made = await cluster.ferry([
      'tokens',
      'create',
      '--role',
      'deployer',
      '--env',
      'dev',
      '--name',
      'dev-pusher',
    ]);
    expect(made.code, made.stderr).toBe(0);
    const dir = await makeTree(appTree('web', 'web two'), path.join(cluster.work, 'src', 'web-2'));
    const pushed = await cluster.ferry(['push', dir, '--json'], {
      FERRY_TOKEN: made.stdout.trim(),
    });
    expect(pushed.code, pushed.stderr).toBe(0);

    const [deployment] = await cluster.json<DeploymentRecord[]>([
      'deployments',
      '--app',
      'web',
      '--env',
      'qa',
      '--limit',
      '1',
    ]);
    expect(deployment).toMatchObject({
      version: 2,
      env: 'qa',
      kind: 'auto-deploy',
      createdBy: 'policy:qa/autoDeploy',
      triggeredBy: 'dev-pusher',
    });

    const history = await cluster.json<HistoryEntry[]>(['history', 'web']);
    expect(history.find((e) => e.deploymentId === deployment!.id)).toMatchObject({
      by: 'policy:qa/autoDeploy',
      triggeredBy: 'dev-pusher',
    });
    expect(history.find((e) => e.type === 'push' && e.version === 2)).toMatchObject({
      by: 'dev-pusher',
    });

    // The table a person reads names both.
    const listed = await cluster.ferry(['deployments', '--app', 'web', '--env', 'qa']);
    expect(listed.stdout).toContain('policy:qa/autoDeploy, triggered by dev-pusher');

    // A deployment by hand is still the person's own.
    await waitFor('the qa deployment to end', async () => {
      const d = await cluster.api().deployment(deployment!.id);
      return ['pending', 'running'].includes(d.state) ? undefined : d;
    });
    const byHand = await cluster.api().deploy({ app: 'web', version: 1, env: 'qa' });
    expect(byHand).toMatchObject({ createdBy: 'admin', triggeredBy: null });
  }, 120_000);
});

describe('a host with an install of a later batch, never sent', () => {
  let prod: Cluster;
  beforeAll(async () => {
    prod = await Cluster.start({
      config: `
environments:
  - { name: qa }
  - name: prod
    strategy: { batch: 1, maxFailures: 0, rollbackOnFailure: true, offlineTimeout: 10m }
`,
    });
    await prod.addHost('prod-1', 'prod');
    await prod.addHost('prod-2', 'prod');
    // Both away: the first batch's job waits in its queue, so the second batch is never sent.
    await prod.stopAgent('prod-1');
    await prod.stopAgent('prod-2');
  }, 120_000);
  afterAll(async () => {
    await prod?.close();
  });

  it('cannot download the bundle until its job is sent; the host of the first batch can', async () => {
    await prod.push(appTree('web', 'web one'), 'web-1');
    expect((await prod.ferry(['mark', 'web@1', 'passed'])).code).toBe(0);
    const started = await prod.api().deploy({ app: 'web', version: 1, env: 'prod' });
    const deployment = await waitFor('the first batch sent', async () => {
      const d = await prod.api().deployment(started.id);
      return d.installs.some((i) => i.state === 'queued') ? d : undefined;
    });
    const sent = deployment.installs.find((i) => i.state === 'queued')!;
    const later = deployment.installs.find((i) => i.state === 'pending')!;
    expect(later).toBeDefined();
    const tokenOf = async (name: string) =>
      (
        JSON.parse(
          await readFile(path.join(prod.host(name).root, 'agent', 'identity.json'), 'utf8'),
        ) as { token: string }
      ).token;
    const get = async (name: string) =>
      (
        await harnessFetch(`${prod.server.url}/api/v1/apps/web/bundles/1/download`, {
          headers: { authorization: `Bearer ${await tokenOf(name)}` },
        })
      ).status;
    expect(await get(later.host)).toBe(403);
    expect(await get(sent.host)).toBe(200);
  }, 120_000);
});
