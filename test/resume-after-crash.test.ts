import { readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, waitFor } from './helpers/cluster.js';
import { harnessFetch } from '../src/dev/harness-trust.js';

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start();
  await cluster.addHost('dev-1', 'dev');
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

interface InstallRecord {
  state: string;
  rolledBack: boolean;
  error: string | null;
  steps: { step: string; state: string }[];
}

async function install(id: string): Promise<InstallRecord> {
  const response = await harnessFetch(`${cluster.server.url}/api/v1/installs/${id}`, {
    headers: { authorization: `Bearer ${cluster.server.adminToken}` },
  });
  return (await response.json()) as InstallRecord;
}

async function installDetached(ref: string): Promise<string> {
  const started = await cluster.ferry(['install', ref, '--host', 'dev-1', '--detach']);
  expect(started.code, started.stderr).toBe(0);
  return /(ins_\w+)/.exec(started.stdout)![1]!;
}

async function ended(id: string): Promise<InstallRecord> {
  return waitFor(`install ${id} to end`, async () => {
    const record = await install(id);
    return ['pending', 'queued', 'running'].includes(record.state) ? undefined : record;
  });
}

describe('resuming after a crash', () => {
  it('an agent killed during health-previous goes on going back, and prunes', async () => {
    const starts = path.join(cluster.work, 'starts.log');
    const gate = path.join(cluster.work, 'previous-unhealthy');
    /** A release whose service notes each start; its health check fails while `gate` exists. */
    const good = (label: string) => ({
      'ferry.yml':
        'apps:\n  app:\n    role: web\n' +
        `    service: { command: "echo ${label} >> ${starts}; exec sleep 1000" }\n` +
        `    health: { command: "test ! -f ${gate}", timeout: 60s, interval: 200ms }\n`,
      'marker.txt': label,
    });
    const bad = {
      'ferry.yml':
        'apps:\n  app:\n    role: web\n    keepReleases: 1\n' +
        `    service: { command: "echo bad >> ${starts}; exec sleep 1000" }\n` +
        '    health: { command: "false", timeout: 1s, interval: 200ms }\n',
    };
    const v1 = await cluster.push(good('v1'), 'v1');
    const v2 = await cluster.push(good('v2'), 'v2');
    const v3 = await cluster.push(bad, 'v3');
    expect((await ended(await installDetached(`app@${v1}`))).state).toBe('succeeded');
    expect((await ended(await installDetached(`app@${v2}`))).state).toBe('succeeded');

    // v3 fails its check; going back to v2 hangs in health-previous, and the agent dies there.
    await writeFile(gate, '');
    const id = await installDetached(`app@${v3}`);
    await waitFor('health-previous to run', async () =>
      (await install(id)).steps.some((s) => s.step === 'health-previous' && s.state === 'running')
        ? true
        : undefined,
    );
    await cluster.stopAgent('dev-1', 'SIGKILL');
    await rm(gate);
    await cluster.startAgentAgain('dev-1');

    const record = await ended(id);
    expect(record).toMatchObject({ state: 'failed', rolledBack: true });
    expect(record.error).toContain('health check failed');
    // The bad release was started once, not again after the crash.
    const started = (await readFile(starts, 'utf8')).trim().split('\n');
    expect(started.filter((line) => line === 'bad')).toHaveLength(1);
    expect(started.at(-1)).toBe('v2');
    const appDir = path.join(cluster.host('dev-1').root, 'apps', 'app');
    expect(await readlink(path.join(appDir, 'current'))).toBe(`releases/${v2}`);
    // keepReleases: 1 keeps the newest, and never the previous one: v1 goes.
    expect((await readdir(path.join(appDir, 'releases'))).sort()).toEqual(
      [String(v2), String(v3)].sort(),
    );
  }, 180_000);

  it('an agent killed during the health check of a new release prunes when it resumes', async () => {
    const gate = path.join(cluster.work, 'new-unhealthy');
    const appDir = path.join(cluster.host('dev-1').root, 'apps', 'app');
    const before = await readdir(path.join(appDir, 'releases'));
    expect(before).toHaveLength(2);
    const v4 = await cluster.push(
      {
        'ferry.yml':
          'apps:\n  app:\n    role: web\n    keepReleases: 1\n' +
          '    service: { command: "exec sleep 1000" }\n' +
          `    health: { command: "test ! -f ${gate}", timeout: 60s, interval: 200ms }\n`,
      },
      'v4',
    );
    await writeFile(gate, '');
    const id = await installDetached(`app@${v4}`);
    await waitFor('health to run', async () =>
      (await install(id)).steps.some((s) => s.step === 'health' && s.state === 'running')
        ? true
        : undefined,
    );
    await cluster.stopAgent('dev-1', 'SIGKILL');
    await rm(gate);
    await cluster.startAgentAgain('dev-1');

    expect((await ended(id)).state).toBe('succeeded');
    expect(await readlink(path.join(appDir, 'current'))).toBe(`releases/${v4}`);
    // keepReleases: 1 keeps v4 and the previous release; the one before goes.
    expect(await readdir(path.join(appDir, 'releases'))).toHaveLength(2);
  }, 180_000);
});
