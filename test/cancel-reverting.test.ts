import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppStatus } from '../src/protocol/deployment-api.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { webAppTree } from './helpers/web-app.js';

/**
 * Cancel while a failed rollout puts hosts back: v2 reaches qa-1 and qa-2, fails
 * on qa-3, and the driver starts taking qa-2 then qa-1 back to v1. Cancelled
 * while qa-2 goes back, qa-2 finishes going back, qa-1 is sent nothing and stays
 * on v2 — shown ahead of the desired v1 — and catch-up leaves it there: it never
 * installs what nobody asked for, a revert that was cancelled included.
 */

const CONFIG = `
environments:
  - name: qa
    strategy: { batch: 1, maxFailures: 0, rollbackOnFailure: true, offlineTimeout: 30s }
`;

/**
 * The web app, whose service waits to listen while `<app dir>/hold` exists on
 * its host: a revert held at one host until the test lets it go on.
 */
function holdingTree(mark: string): Record<string, string> {
  const tree = webAppTree(mark, { healthTimeout: '60s' });
  const server = tree['server.js']!;
  const held = server
    .replace(
      "import http from 'node:http';",
      "import fs from 'node:fs';\nimport http from 'node:http';",
    )
    .replace(
      "server.listen(port, '127.0.0.1', () => console.log('web ' + version + ' listening on ' + port));",
      `const hold = new URL('../../hold', 'file://' + process.cwd() + '/').pathname;
const open = () => server.listen(port, '127.0.0.1', () => console.log('web ' + version + ' listening on ' + port));
const wait = () => (fs.existsSync(hold) ? setTimeout(wait, 100) : open());
wait();`,
    );
  expect(held).toContain('const wait = ');
  return { ...tree, 'server.js': held };
}

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start({ config: CONFIG });
  for (const name of ['qa-1', 'qa-2', 'qa-3']) await cluster.addHost(name, 'qa');
  for (const args of [
    ['BREAK=no', '--env', 'qa'],
    ['BREAK=yes', '--host', 'qa-3'],
  ]) {
    const set = await cluster.ferry(['vars', 'set', ...args]);
    expect(set.code, set.stderr).toBe(0);
  }
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

const qaStatus = async () =>
  (await cluster.json<AppStatus[]>(['status', 'web']))[0]!.environments.find(
    (e) => e.env === 'qa',
  )!;

describe('cancel while a failed rollout puts hosts back', () => {
  it('lets the revert under way finish, sends no other, and catch-up leaves the host ahead alone', async () => {
    const v1 = await cluster.push(holdingTree('one'), 'one');
    const first = await cluster.ferry(['deploy', `web@${v1}`, '--env', 'qa']);
    expect(first.code, first.stdout).toBe(0);

    const hold = path.join(cluster.host('qa-2').root, 'apps', 'web', 'hold');
    await mkdir(path.dirname(hold), { recursive: true });
    await writeFile(hold, '');
    const v2 = await cluster.push(
      webAppTree('two', { breakable: true, healthTimeout: '3s' }),
      'two',
    );
    const started = await cluster.api().deploy({ app: 'web', version: v2, env: 'qa' });
    await waitFor(
      'qa-2 to be going back',
      async () => {
        const record = await cluster.api().deployment(started.id);
        return record.installs.find(
          (i) => i.host === 'qa-2' && i.purpose === 'revert' && i.state === 'running',
        );
      },
      90_000,
    );
    const cancelled = await cluster.ferry(['cancel', started.id]);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toContain(`going back to web@${v1}: qa-2`);
    expect(cancelled.stdout).toContain(`got web@${v2} and stays on it: qa-1`);
    expect(cancelled.stdout).toContain(`did not get web@${v2}: qa-3`);
    await rm(hold);

    const record = await waitFor('qa-2 to be back', async () => {
      const now = await cluster.api().deployment(started.id);
      const revert = now.installs.find((i) => i.host === 'qa-2' && i.purpose === 'revert');
      return revert?.state === 'succeeded' ? now : undefined;
    });
    expect(record.state).toBe('cancelled');
    // Why the rollout stopped is kept beside who cancelled it.
    expect(record.error).toContain('more than maxFailures');
    expect(record.error).toContain('cancelled by');
    expect(record.installs.map((i) => [i.purpose, i.host, i.state])).toEqual([
      ['deploy', 'qa-1', 'succeeded'],
      ['deploy', 'qa-2', 'succeeded'],
      ['deploy', 'qa-3', 'failed'],
      ['revert', 'qa-2', 'succeeded'],
      ['revert', 'qa-1', 'cancelled'],
    ]);
    const shown = await cluster.ferry(['deployment', started.id]);
    expect(shown.stdout).toContain(`went back to web@${v1}: qa-2`);
    expect(shown.stdout).toContain(`got web@${v2} and stays on it: qa-1`);

    // The environment still wants v1; qa-1 is ahead of it.
    const status = await waitFor('each host to report what it runs', async () => {
      const now = await qaStatus();
      const versions = Object.fromEntries(now.hosts.map((h) => [h.host, h.version]));
      return versions['qa-1'] === v2 && versions['qa-2'] === v1 && versions['qa-3'] === v1
        ? now
        : undefined;
    });
    expect(status.desired).toMatchObject({ version: v1 });
    const lines = await cluster.ferry(['status', 'web']);
    expect(lines.stdout).toMatch(
      // Continuous health may stand between the host's health and its drift.
      new RegExp(
        `qa-1\\s+@${v2}\\s+ok\\s+(?:healthy since [0-9: -]+\\s+)?\\(ahead of the desired @${v1}\\)`,
      ),
    );

    // Catch-up looks at a host when its agent connects: it takes nobody back.
    await cluster.stopAgent('qa-1');
    await cluster.startAgentAgain('qa-1');
    await waitFor('qa-1 back', async () =>
      (await qaStatus()).hosts.find((h) => h.host === 'qa-1' && h.connected),
    );
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const installs = (await cluster.api().deployments({ app: 'web', env: 'qa' })).flatMap(
      (d) => d.installs,
    );
    expect(installs.filter((i) => i.purpose === 'catch-up')).toEqual([]);
    expect((await cluster.health('qa-1'))?.version).toBe(String(v2));
  }, 240_000);
});
