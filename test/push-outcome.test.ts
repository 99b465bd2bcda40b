import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from './helpers/cluster.js';
import { makeTree } from './helpers/source-tree.js';
import { webAppTree } from './helpers/web-app.js';

/**
 * `ferry push` tells the truth about the deployment it starts: a push whose
 * deployment to qa (autoDeploy) is refused at once exits 1 after printing the
 * version it got; `--follow` waits for that deployment's end, and the exit
 * code says how it ended; an ended deployment is never offered to follow.
 */

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start();
  await cluster.addHost('qa-1', 'qa');
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

async function tree(label: string, files: Record<string, string>): Promise<string> {
  return makeTree(files, path.join(cluster.work, 'src', label));
}

describe('ferry push and the deployment it starts', () => {
  it('exits 1 after printing the version when the deployment to qa is refused at once (a missing variable)', async () => {
    const files = webAppTree('needs-db');
    files['ferry.yml'] = files['ferry.yml']!.replace(
      "WEB_MARK: 'needs-db'",
      "WEB_MARK: 'needs-db', DB_URL: '${DB_URL}'",
    );
    const pushed = await cluster.ferry(['push', await tree('needs-db', files)]);
    expect(pushed.code, pushed.stderr).toBe(1);
    // The version comes first: the bundle is pushed all the same.
    expect(pushed.stdout).toMatch(/^web@1\nsha256 [0-9a-f]{64}\n/);
    expect(pushed.stdout).toMatch(/^auto-deploy to qa: dep_\w+ \(failed\): .*\$\{DB_URL\}/m);
    // An ended deployment is not offered to follow.
    expect(pushed.stdout).not.toContain('--follow');
    expect(pushed.stderr).toContain('web@1 is pushed, but not deployed');
    expect(pushed.stderr).toContain('${DB_URL} (on qa-1)');
    expect(pushed.stderr).toContain('[E_AUTO_DEPLOY_FAILED]');
    expect((await cluster.api().bundles('web')).map((b) => b.version)).toContain(1);

    // With --json, the result is printed and the exit code is the same.
    // Other bytes: the same tree made within the same second would be the same
    // bundle (its creation time is its newest file's), and get the version it has.
    const again = {
      ...files,
      'ferry.yml': files['ferry.yml'].replace("'needs-db'", "'needs-db-2'"),
    };
    expect(again['ferry.yml']).not.toBe(files['ferry.yml']);
    const json = await cluster.ferry(['push', await tree('needs-db-2', again), '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      bundle: { app: 'web' },
      deployments: [{ env: 'qa', state: 'failed' }],
    });
  }, 120_000);

  it('--follow waits for the deployment to qa and exits 0 when it succeeded', async () => {
    const pushed = await cluster.ferry([
      'push',
      await tree('good', webAppTree('good')),
      '--follow',
    ]);
    expect(pushed.code, pushed.stdout + pushed.stderr).toBe(0);
    expect(pushed.stdout).toMatch(/^web@3$/m);
    expect(pushed.stdout).toContain('succeeded: web@3 runs on qa-1');
    expect(await cluster.health('qa-1')).toMatchObject({ ok: true, version: '3', mark: 'good' });
  }, 120_000);

  it('--follow exits 1 when the deployment to qa fails on a host', async () => {
    const set = await cluster.ferry(['vars', 'set', 'BREAK=yes', '--env', 'qa']);
    expect(set.code, set.stderr).toBe(0);
    const files = webAppTree('broken', { breakable: true, healthTimeout: '2s' });
    const pushed = await cluster.ferry(['push', await tree('broken', files), '--follow']);
    expect(pushed.code, pushed.stdout + pushed.stderr).toBe(1);
    expect(pushed.stdout).toMatch(/^web@4$/m);
    expect(pushed.stdout).toMatch(/^rolled back: 1 host failed/m);
    expect(pushed.stdout).toMatch(/^logs: ferry logs dep_\w+$/m);
    // The host went back to the release it ran.
    expect(await cluster.health('qa-1')).toMatchObject({ ok: true, version: '3' });
  }, 120_000);
});
