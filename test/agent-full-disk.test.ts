import { randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, killServices, waitFor } from './helpers/cluster.js';
import { mountSmallDisk, type SmallDisk } from './helpers/small-disk.js';
import { harnessFetch } from '../src/dev/harness-trust.js';

let cluster: Cluster;
let disk: SmallDisk | null = null;

beforeAll(async () => {
  cluster = await Cluster.start();
  // dev-1's whole agent root is a small disk: identity, journal, bundle cache and releases.
  disk = await mountSmallDisk(8, path.join(cluster.work, 'hosts', 'dev-1'));
  if (!disk) throw new Error('this test needs to mount a tmpfs (run as root)');
  await cluster.addHost('dev-1', 'dev');
}, 120_000);

afterAll(async () => {
  // The services' records are on the small disk: stop them before it goes.
  await cluster?.stopAgent('dev-1', 'SIGTERM').catch(() => undefined);
  if (cluster?.hosts.has('dev-1')) await killServices(cluster.host('dev-1').root);
  await disk?.unmount();
  await cluster?.close();
});

interface InstallRecord {
  state: string;
  error: string | null;
}

/** Installs on dev-1 and waits for the install to end, however long: a wedged one times out. */
async function installAndWait(ref: string): Promise<InstallRecord> {
  const started = await cluster.ferry(['install', ref, '--host', 'dev-1', '--detach']);
  expect(started.code, started.stderr).toBe(0);
  const id = /(ins_\w+)/.exec(started.stdout)![1]!;
  return waitFor(
    `install ${id} to end`,
    async () => {
      const response = await harnessFetch(`${cluster.server.url}/api/v1/installs/${id}`, {
        headers: { authorization: `Bearer ${cluster.server.adminToken}` },
      });
      const record = (await response.json()) as InstallRecord;
      return ['pending', 'queued', 'running'].includes(record.state) ? undefined : record;
    },
    30_000,
  );
}

const small = (app: string, keep: number, marker: string) => ({
  'ferry.yml': `apps:\n  ${app}:\n    role: web\n    keepReleases: ${keep}\n    service: { command: "exec sleep 1000" }\n`,
  'marker.txt': marker,
});

describe('a full disk on a host', () => {
  const cacheDir = () => path.join(cluster.host('dev-1').root, 'agent', 'cache');

  it('ends the install failed, naming the disk and its free space, and removes the partial download', async () => {
    const big = await cluster.push(
      {
        'ferry.yml': 'apps:\n  big:\n    role: web\n    service: { command: "exec sleep 1000" }\n',
        // base64 of random bytes: 12 MB that gzip makes no smaller than 9 MB.
        'blob.txt': randomBytes(9 * 1024 * 1024).toString('base64'),
      },
      'big-1',
    );
    const record = await installAndWait(`big@${big}`);
    expect(record.state).toBe('failed');
    expect(record.error).toContain(cluster.host('dev-1').root);
    expect(record.error).toMatch(/free/);
    expect((await readdir(cacheDir())).filter((f) => f.endsWith('.partial'))).toEqual([]);

    // Again: refused before anything is downloaded, and the host is not wedged.
    const again = await installAndWait(`big@${big}`);
    expect(again.state).toBe('failed');
    expect(again.error).toMatch(/free/);
    expect((await readdir(cacheDir())).filter((f) => f.endsWith('.partial'))).toEqual([]);
  }, 90_000);

  it('takes its next job', async () => {
    const version = await cluster.push(small('tiny', 2, 'one'), 'tiny-1');
    expect((await installAndWait(`tiny@${version}`)).state).toBe('succeeded');
  }, 60_000);

  it('keeps in its bundle cache only the bundles of releases still on the host', async () => {
    for (const marker of ['two', 'three', 'four']) {
      const version = await cluster.push(small('tiny', 2, marker), `tiny-${marker}`);
      expect((await installAndWait(`tiny@${version}`)).state).toBe('succeeded');
    }
    const releases = await readdir(
      path.join(cluster.host('dev-1').root, 'apps', 'tiny', 'releases'),
    );
    expect(releases).toHaveLength(2);
    const cached = (await readdir(cacheDir())).filter((f) => f.endsWith('.tar.gz'));
    expect(cached).toHaveLength(2);
  }, 120_000);

  it('ends a job that comes when the disk is full already (the journal cannot be written) as failed', async () => {
    const version = await cluster.push(small('tiny', 2, 'five'), 'tiny-five');
    const filler = await disk!.fill();
    try {
      const record = await installAndWait(`tiny@${version}`);
      expect(record.state).toBe('failed');
      expect(record.error).toMatch(/free/);
    } finally {
      await rm(filler);
    }
    // And the host goes on once there is room again.
    const next = await cluster.push(small('tiny', 2, 'six'), 'tiny-six');
    expect((await installAndWait(`tiny@${next}`)).state).toBe('succeeded');
  }, 120_000);
});
