import { readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppStatus, DeploymentRecord } from '../src/protocol/deployment-api.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { envAppTree, runningEnv } from './helpers/env-app.js';

/**
 * A release keeps its configuration: v1 deployed with REDIS_HOST=a; the
 * variable changed to a value that breaks the health check; v2 fails its check
 * and the host goes back — to v1 as v1 ran, with REDIS_HOST=a, read from the
 * running process's environment. Then `ferry rollback` after a good v2 brings
 * back v1's own configuration too, and `--refresh-vars` today's — which v1
 * keeps from then on: it is the configuration it last ran with.
 */

const CONFIG = `
environments:
  - { name: qa, strategy: { batch: 1, maxFailures: 0, rollbackOnFailure: true } }
`;

/** An app that fails its health check when REDIS_HOST is `broken`. */
function cartTree(mark: string): Record<string, string> {
  return envAppTree('cart', {
    env: { REDIS_HOST: '${REDIS_HOST}', CART_MARK: mark, CART_TOKEN: '${CART_TOKEN}' },
    healthTimeout: '3s',
    failWhen: { variable: 'REDIS_HOST', value: 'broken' },
  });
}

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start({ config: CONFIG });
  await cluster.addHost('qa-1', 'qa');
  await cluster.setVar('REDIS_HOST', 'a', { env: 'qa' });
  await cluster.setVar('CART_TOKEN', 's3cr3t-one', { env: 'qa', secret: true });
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

async function deploy(
  args: string[],
): Promise<{ code: number | null; deployment: DeploymentRecord }> {
  const result = await cluster.ferry(args);
  const id = /\((dep_[0-9a-f]+)\)/.exec(result.stdout)?.[1];
  expect(id, `${result.stdout}\n${result.stderr}`).toBeDefined();
  return {
    code: result.code,
    deployment: await cluster.json<DeploymentRecord>(['deployment', id!]),
  };
}

async function setVar(name: string, value: string): Promise<void> {
  await cluster.setVar(name, value, { env: 'qa' });
}

/** Waits until the host's service is the one of `version` and answers. */
async function serving(version: number): Promise<Record<string, string>> {
  return waitFor(
    `cart@${version} serving on qa-1`,
    async () => {
      const env = await runningEnv(cluster.host('qa-1').root, 'cart');
      return env?.FERRY_VERSION === String(version) ? env : undefined;
    },
    30_000,
  );
}

describe('a release keeps its configuration', () => {
  let v1 = 0;
  let v2 = 0;

  it('goes back after a failed health check to the previous release with its own variables', async () => {
    v1 = await cluster.push(cartTree('one'), 'one');
    const first = await deploy(['deploy', `cart@${v1}`, '--env', 'qa']);
    expect(first.code).toBe(0);
    expect((await serving(v1)).REDIS_HOST).toBe('a');

    await setVar('REDIS_HOST', 'broken');
    v2 = await cluster.push(cartTree('two'), 'two');
    const second = await deploy(['deploy', `cart@${v2}`, '--env', 'qa']);
    expect(second.code).toBe(1);
    const install = second.deployment.installs.find((i) => i.purpose === 'deploy')!;
    expect(install.rolledBack).toBe(true);
    expect(install.error).toContain('health check failed');

    const appDir = path.join(cluster.host('qa-1').root, 'apps', 'cart');
    expect(await readlink(path.join(appDir, 'current'))).toBe(`releases/${v1}`);
    const env = await serving(v1);
    expect(env.REDIS_HOST).toBe('a');
    expect(env.CART_MARK).toBe('one');
    // The secret came back too, and never reached the step logs.
    expect(env.CART_TOKEN).toBe('s3cr3t-one');
    const logs = await cluster.ferry(['logs', second.deployment.id]);
    expect(logs.stdout + logs.stderr).not.toContain('s3cr3t-one');
    // The release keeps it, readable by the agent's user only: it holds the secret.
    const snapshotFile = path.join(appDir, 'releases', String(v1), '.ferry-snapshot.json');
    expect((await stat(snapshotFile)).mode & 0o777).toBe(0o600);

    // `ferry status` says the running release's configuration is not today's.
    const [status] = await cluster.json<AppStatus[]>(['status', 'cart']);
    const qa = status!.environments.find((e) => e.env === 'qa')!;
    expect(qa.hosts[0]).toMatchObject({
      host: 'qa-1',
      version: v1,
      changedVariables: ['REDIS_HOST'],
    });
    const text = await cluster.ferry(['status', 'cart']);
    expect(text.stdout).toContain('REDIS_HOST changed since this release was deployed');
  }, 180_000);

  it("rolls back to a release with its own variables, and with today's on --refresh-vars", async () => {
    await setVar('REDIS_HOST', 'b');
    await setVar('CART_TOKEN', 's3cr3t-two');
    const good = await deploy(['deploy', `cart@${v2}`, '--env', 'qa']);
    expect(good.code).toBe(0);
    expect((await serving(v2)).REDIS_HOST).toBe('b');
    const [afterGood] = await cluster.json<AppStatus[]>(['status', 'cart']);
    expect(afterGood!.environments[0]!.hosts[0]!.changedVariables).toEqual([]);

    const back = await deploy(['rollback', 'cart', '--env', 'qa']);
    expect(back.code).toBe(0);
    expect(back.deployment.version).toBe(v1);
    const env = await serving(v1);
    expect(env.REDIS_HOST).toBe('a');
    expect(env.CART_TOKEN).toBe('s3cr3t-one');
    // The deployment shows what it used, the secret masked.
    const [install] = back.deployment.installs;
    expect(install!.variables).toEqual(
      expect.arrayContaining([
        { name: 'REDIS_HOST', value: 'a', secret: false },
        { name: 'CART_TOKEN', value: null, secret: true },
      ]),
    );
    const shown = await cluster.ferry(['deployment', back.deployment.id]);
    expect(shown.stdout).toContain('REDIS_HOST=a');
    expect(shown.stdout).toContain('CART_TOKEN=******** (secret)');
    expect(shown.stdout + JSON.stringify(back.deployment)).not.toContain('s3cr3t');

    expect((await deploy(['deploy', `cart@${v2}`, '--env', 'qa'])).code).toBe(0);
    expect((await serving(v2)).REDIS_HOST).toBe('b');
    const refreshed = await deploy([
      'rollback',
      'cart',
      '--env',
      'qa',
      '--to',
      String(v1),
      '--refresh-vars',
    ]);
    expect(refreshed.code).toBe(0);
    const now = await serving(v1);
    expect(now.REDIS_HOST).toBe('b');
    expect(now.CART_TOKEN).toBe('s3cr3t-two');
  }, 240_000);

  it('rolls back to a release with its own snapshot though a variable was unset since; --refresh-vars is refused', async () => {
    expect((await deploy(['deploy', `cart@${v2}`, '--env', 'qa'])).code).toBe(0);
    await serving(v2);
    const unset = await cluster.ferry(['vars', 'unset', 'CART_TOKEN', '--env', 'qa']);
    expect(unset.code, unset.stderr).toBe(0);

    // The refreshed rollback needs today's values, and one is gone.
    const refused = await cluster.ferry([
      'rollback',
      'cart',
      '--env',
      'qa',
      '--to',
      String(v1),
      '--refresh-vars',
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('[E_VARIABLE_MISSING]');
    expect(refused.stderr).toContain('CART_TOKEN');

    // v1 has its own snapshot: today's variables do not matter to it. It is the
    // one v1 last ran with here — the refreshed rollback's, not the first
    // deployment's: what the host keeps with the release, and would go back to.
    const back = await deploy(['rollback', 'cart', '--env', 'qa', '--to', String(v1)]);
    expect(back.code, back.deployment.error ?? '').toBe(0);
    const env = await serving(v1);
    expect(env.REDIS_HOST).toBe('b');
    expect(env.CART_TOKEN).toBe('s3cr3t-two');
  }, 240_000);
});
