import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentRecord } from '../src/protocol/deployment-api.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { runningEnv } from './helpers/env-app.js';
import { webAppTree } from './helpers/web-app.js';

/**
 * One rule for going back: a release starts on a host with the configuration
 * it last ran with there — the snapshot the host keeps with it — whoever takes
 * it back: the agent after a failed health check, the server putting back the
 * hosts of a failed rollout, `ferry rollback`. v1 lands with COLOUR=a, then is
 * deployed again with `--refresh-vars` (COLOUR=b): from then on, going back to
 * v1 means COLOUR=b everywhere, never the first deployment's a. And a host
 * that was away during a `--refresh-vars` deployment gets its values when it
 * returns, though it already ran that version.
 */

const CONFIG = `
environments:
  - name: qa
    strategy: { batch: 1, maxFailures: 0, rollbackOnFailure: true, offlineTimeout: 2s }
`;

/** The web app with COLOUR in its service's environment (and BREAK too, when breakable). */
function colourTree(mark: string, options: { breakable?: boolean } = {}): Record<string, string> {
  const tree = webAppTree(mark, { ...options, healthTimeout: '3s' });
  const manifest = tree['ferry.yml']!.replace(
    "WEB_PORT: '${PORT}'",
    "WEB_PORT: '${PORT}', WEB_COLOUR: '${COLOUR}'",
  );
  expect(manifest).toContain('WEB_COLOUR');
  return { ...tree, 'ferry.yml': manifest };
}

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start({ config: CONFIG });
  await cluster.addHost('qa-1', 'qa');
  await cluster.addHost('qa-2', 'qa');
  await setVar('BREAK=no', '--env', 'qa');
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

async function setVar(...args: string[]): Promise<void> {
  const set = await cluster.ferry(['vars', 'set', ...args]);
  expect(set.code, set.stderr).toBe(0);
}

/** Runs a deploying command and returns its exit code and the deployment it made. */
async function run(args: string[]): Promise<{ code: number | null; deployment: DeploymentRecord }> {
  const result = await cluster.ferry(args);
  const id = /\((dep_[0-9a-f]+)\)/.exec(result.stdout)?.[1];
  expect(id, `${result.stdout}\n${result.stderr}`).toBeDefined();
  return {
    code: result.code,
    deployment: await cluster.json<DeploymentRecord>(['deployment', id!]),
  };
}

/** Waits until the host serves `version` with COLOUR `colour`. */
function serving(host: string, version: number, colour: string): Promise<Record<string, string>> {
  return waitFor(
    `web@${version} with COLOUR=${colour} on ${host}`,
    async () => {
      const env = await runningEnv(cluster.host(host).root, 'web');
      return env?.FERRY_VERSION === String(version) && env.WEB_COLOUR === colour ? env : undefined;
    },
    60_000,
  );
}

const colourOf = (install: DeploymentRecord['installs'][number] | undefined) =>
  install?.variables?.find((v) => v.name === 'COLOUR')?.value;

describe('going back to a release: the configuration it last ran with', () => {
  let v1 = 0;
  let v2 = 0;

  it('puts back the hosts of a failed rollout as the agent goes back itself: with the refreshed values', async () => {
    await setVar('COLOUR=a', '--env', 'qa');
    v1 = await cluster.push(colourTree('one'), 'one');
    expect((await run(['deploy', `web@${v1}`, '--env', 'qa'])).code).toBe(0);
    await setVar('COLOUR=b', '--env', 'qa');
    const refreshed = await run(['deploy', `web@${v1}`, '--env', 'qa', '--refresh-vars']);
    expect(refreshed.code).toBe(0);
    await serving('qa-1', v1, 'b');
    await serving('qa-2', v1, 'b');

    // v2 passes on qa-1, fails on qa-2: qa-2's agent goes back by itself, the
    // server puts qa-1 back; both start v1 as it last ran, with COLOUR=b.
    await setVar('COLOUR=c', '--env', 'qa');
    await setVar('BREAK=yes', '--host', 'qa-2');
    v2 = await cluster.push(colourTree('two', { breakable: true }), 'two');
    const failed = await run(['deploy', `web@${v2}`, '--env', 'qa']);
    expect(failed.code).toBe(1);
    const record = await waitFor('the rollout to have gone back', async () => {
      const now = await cluster.api().deployment(failed.deployment.id);
      return now.state === 'rolled_back'
        ? await cluster.json<DeploymentRecord>(['deployment', now.id])
        : undefined;
    });
    const ofHost = (host: string, purpose: string) =>
      record.installs.find((i) => i.host === host && i.purpose === purpose);
    expect(ofHost('qa-2', 'deploy')).toMatchObject({ state: 'failed', rolledBack: true });
    expect(ofHost('qa-1', 'revert')).toMatchObject({ state: 'succeeded', version: v1 });
    expect(colourOf(ofHost('qa-1', 'revert'))).toBe('b');
    await serving('qa-2', v1, 'b');
    await serving('qa-1', v1, 'b');
  }, 240_000);

  it('rolls back to a release with the configuration it last ran with, not the first deployment’s', async () => {
    await setVar('BREAK=no', '--host', 'qa-2');
    const good = await run(['deploy', `web@${v2}`, '--env', 'qa']);
    expect(good.code, JSON.stringify(good.deployment)).toBe(0);
    await serving('qa-1', v2, 'c');
    const back = await run(['rollback', 'web', '--env', 'qa', '--to', String(v1)]);
    expect(back.code).toBe(0);
    expect(back.deployment.installs.map(colourOf)).toEqual(['b', 'b']);
    await serving('qa-1', v1, 'b');
    await serving('qa-2', v1, 'b');
  }, 240_000);

  it('gives a host that was away during a --refresh-vars deployment its values when it returns', async () => {
    await cluster.stopAgent('qa-2');
    await setVar('COLOUR=d', '--env', 'qa');
    const refreshed = await run(['deploy', `web@${v1}`, '--env', 'qa', '--refresh-vars']);
    expect(refreshed.deployment.state).toBe('partial');
    await serving('qa-1', v1, 'd');

    await cluster.startAgentAgain('qa-2');
    await serving('qa-2', v1, 'd');
    const record = await waitFor('the deployment to succeed', async () => {
      const now = await cluster.json<DeploymentRecord>(['deployment', refreshed.deployment.id]);
      return now.state === 'succeeded' ? now : undefined;
    });
    const catchUp = record.installs.find((i) => i.host === 'qa-2' && i.purpose === 'catch-up');
    expect(catchUp).toMatchObject({ state: 'succeeded', version: v1 });
    expect(colourOf(catchUp)).toBe('d');

    // A host that enrols now has never run v1: it takes the values of today, the refreshed ones.
    await cluster.addHost('qa-3', 'qa');
    await serving('qa-3', v1, 'd');
  }, 240_000);
});
