import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertRecord } from '../src/protocol/alert-api.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { mountSmallDisk, type SmallDisk } from './helpers/small-disk.js';

/**
 * Alerts end to end: a real server process, a real agent whose whole root is a
 * small disk (tmpfs), and the real CLI. The agent goes away longer than its
 * environment's offline timeout (shortened): `host-away`, cleared when it is
 * back. Its disk fills past the threshold (lowered): the facts report it
 * sends on connecting raises `disk-full` for that mount; once room is made,
 * the next report clears it. `ferry alerts --open` shows what is open.
 */

const CONFIG = `alerts:
  diskPercent: 75
  checkEvery: 300ms
environments:
  - name: dev
    strategy: { offlineTimeout: 2s }
`;

let cluster: Cluster;
let disk: SmallDisk | null = null;

beforeAll(async () => {
  cluster = await Cluster.start({ config: CONFIG });
  disk = await mountSmallDisk(8, path.join(cluster.work, 'hosts', 'dev-1'));
  if (!disk) throw new Error('this test needs to mount a tmpfs (run as root)');
  await cluster.addHost('dev-1', 'dev');
}, 120_000);

afterAll(async () => {
  await cluster?.stopAgent('dev-1', 'SIGTERM').catch(() => undefined);
  await disk?.unmount();
  await cluster?.close();
});

async function openAlerts(): Promise<AlertRecord[]> {
  return cluster.json<AlertRecord[]>(['alerts', '--open', '--host', 'dev-1']);
}

/** Waits until an open alert of `kind` is there (or, with `open: false`, is gone). */
function untilOpen(kind: string, open = true): Promise<AlertRecord[]> {
  return waitFor(
    `${kind} ${open ? 'raised' : 'cleared'}`,
    async () => {
      const alerts = await openAlerts();
      return alerts.some((a) => a.kind === kind) === open ? alerts : undefined;
    },
    30_000,
  );
}

/** The agent stops and starts again: it sends its facts on connecting. */
async function restartAgent(): Promise<void> {
  await cluster.stopAgent('dev-1', 'SIGTERM');
  await cluster.startAgentAgain('dev-1');
}

describe('alerts of a real host', () => {
  it('raises host-away past the offline timeout and clears it when the agent is back', async () => {
    await waitFor('dev-1 connected', async () =>
      (await cluster.api().hosts()).find((h) => h.name === 'dev-1' && h.connected),
    );
    expect(await openAlerts()).toEqual([]);

    await cluster.stopAgent('dev-1', 'SIGTERM');
    const [away] = await untilOpen('host-away');
    expect(away?.message).toMatch(
      /^dev-1 is away since \d\d:\d\d UTC \(\d+ seconds?\), longer than dev's offline timeout of 2s$/,
    );
    const table = await cluster.ferry(['alerts', '--open']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^ID +KIND +SUBJECT +STARTED +CLEARED +MESSAGE$/m);
    expect(table.stdout).toMatch(
      new RegExp(
        `^${away!.id} +host-away +dev-1 +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d +open +dev-1 is away since`,
        'm',
      ),
    );

    await cluster.startAgentAgain('dev-1');
    await untilOpen('host-away', false);
    const [cleared] = await cluster.json<AlertRecord[]>(['alerts', '--host', 'dev-1']);
    expect(cleared).toMatchObject({ id: away?.id, clearedBecause: 'it connected again' });
    const all = await cluster.ferry(['alerts', '--env', 'dev']);
    expect(all.stdout).toMatch(
      new RegExp(
        `^${away!.id} +host-away +dev-1 +\\S+ \\S+ +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d +dev-1`,
        'm',
      ),
    );
  }, 90_000);

  it('raises disk-full for the mount the agent reports over the threshold, and clears it once there is room', async () => {
    // 7 MB of the 8: past 75% with what the agent keeps there.
    const filler = path.join(disk!.dir, 'filler');
    await writeFile(filler, Buffer.alloc(7 * 1024 * 1024, 1));
    await restartAgent();
    const alerts = await untilOpen('disk-full');
    const full = alerts.find((a) => a.kind === 'disk-full');
    expect(full?.message).toMatch(
      new RegExp(
        `^${disk!.dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} on dev-1 is (8\\d|9\\d|100)% full \\([\\d.]+ [KM]B free of 8\\.0 MB\\), over 75%$`,
      ),
    );
    expect(full).toMatchObject({ env: 'dev', host: 'dev-1', app: null, clearedAt: null });

    await rm(filler);
    await restartAgent();
    await untilOpen('disk-full', false);
    const history = await cluster.json<AlertRecord[]>(['alerts', '--host', 'dev-1']);
    expect(history.find((a) => a.id === full?.id)).toMatchObject({
      clearedBecause: `${disk!.dir} is under 75% full`,
    });
  }, 90_000);
});
