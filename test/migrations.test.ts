import { access, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstallLogs } from '../src/protocol/api.js';
import type { DeploymentRecord } from '../src/protocol/deployment-api.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { webAppTree } from './helpers/web-app.js';
import { harnessFetch } from '../src/dev/harness-trust.js';

/**
 * Migrations on real agents: three qa hosts, batches of two. A bundle's
 * `migrate` commands run once per deployment, on the first host of the first
 * batch, before any other host is sent anything; a failing one leaves every
 * host on the release it had; a rollback never re-runs them and, across
 * versions that migrated, asks for `--yes`.
 */

const QA = ['qa-1', 'qa-2', 'qa-3'];
const CONFIG = `
environments:
  - name: qa
    autoDeploy: false
    strategy: { batch: 2, maxFailures: 0, rollbackOnFailure: true }
  - name: lab
    strategy: { batch: 1, maxFailures: 0, offlineTimeout: 3s }
  - name: bare
    autoPromote: true
`;

/** The web app with a migration that appends to its shared `data/migrations.log` (and fails with `fail`). */
function migratingTree(
  mark: string,
  options: { fail?: boolean; breakable?: boolean; slow?: boolean; gateFile?: string } = {},
): Record<string, string> {
  const tree = webAppTree(mark, {
    breakable: options.breakable ?? false,
    // A gated release waits in its health check, after the switch, until the test opens it.
    ...(options.gateFile === undefined
      ? { healthTimeout: '3s' }
      : { healthTimeout: '60s', gateFile: options.gateFile }),
  });
  return {
    ...tree,
    'ferry.yml': tree['ferry.yml']!.replace(
      '    keepReleases: 5\n',
      '    keepReleases: 5\n    migrate: [node migrate.js]\n    shared: [data/]\n',
    ),
    'migrate.js': [
      "import { appendFileSync, mkdirSync } from 'node:fs';",
      `const mark = ${JSON.stringify(mark)};`,
      "console.log('migrating the data to ' + mark);",
      options.fail
        ? "console.error('column already exists'); process.exit(3);"
        : options.slow
          ? "mkdirSync('data', { recursive: true }); appendFileSync('data/migrations.log', mark + ' began\\n'); setTimeout(() => undefined, 15000);"
          : "mkdirSync('data', { recursive: true }); appendFileSync('data/migrations.log', mark + ' v' + process.env.FERRY_VERSION + '\\n');",
      '',
    ].join('\n'),
  };
}

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start({ config: CONFIG });
  for (const name of QA) await cluster.addHost(name, 'qa');
  // lab-0 is enrolled but never connects: the first batch of every lab rollout is away.
  const enrolToken = await cluster.token('agent', 'lab');
  const enrolled = await harnessFetch(`${cluster.server.url}/api/v1/agents/enroll`, {
    method: 'POST',
    headers: { authorization: `Bearer ${enrolToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'lab-0', env: 'lab', roles: ['web'], vars: { PORT: '1' } }),
  });
  expect(enrolled.status).toBe(201);
  for (const name of ['lab-1', 'lab-2']) await cluster.addHost(name, 'lab');
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

const appDir = (host: string) => path.join(cluster.host(host).root, 'apps', 'web');

/** What a host's shared migrations log holds, or null when no migration ever wrote it. */
function migrationsLog(host: string): Promise<string | null> {
  return readFile(path.join(appDir(host), 'shared', 'data', 'migrations.log'), 'utf8').catch(
    () => null,
  );
}

async function deploy(args: string[]) {
  const result = await cluster.ferry(args);
  const id = /\((dep_[0-9a-f]+)\)/.exec(result.stdout)?.[1];
  expect(id, `${result.stdout}\n${result.stderr}`).toBeDefined();
  return { result, deployment: await cluster.json<DeploymentRecord>(['deployment', id!]) };
}

describe('migrations', () => {
  it('run once per deployment on the first host, fail a deployment before any host switches, and make a rollback ask for --yes', async () => {
    // 1. The first deployment migrates on qa-1 only, before the switch.
    const v1 = await cluster.push(migratingTree('one'), 'one');
    const first = await deploy(['deploy', `web@${v1}`, '--env', 'qa']);
    expect(first.result.code, first.result.stderr).toBe(0);
    expect(first.deployment.migratedOn).toBe('qa-1');
    expect(await migrationsLog('qa-1')).toBe(`one v${v1}\n`);
    expect(await migrationsLog('qa-2')).toBeNull();
    expect(await migrationsLog('qa-3')).toBeNull();
    const logs = await cluster.json<{ installs: (InstallLogs & { host: string })[] }>([
      'logs',
      first.deployment.id,
    ]);
    const withMigrate = logs.installs.filter((i) => i.steps.some((s) => s.step === 'migrate'));
    expect(withMigrate.map((i) => i.host)).toEqual(['qa-1']);
    const steps = withMigrate[0]!.steps.map((s) => s.step);
    // After the install commands, before the switch.
    expect(steps.indexOf('migrate')).toBeGreaterThan(steps.indexOf('link-shared'));
    expect(steps.indexOf('migrate')).toBeLessThan(steps.indexOf('switch'));
    expect(withMigrate[0]!.steps.find((s) => s.step === 'migrate')!.stdout).toContain(
      '$ node migrate.js\nmigrating the data to one\n',
    );
    const text = await cluster.ferry(['logs', first.deployment.id]);
    expect(text.stdout).toMatch(
      /^== migrate: succeeded, exit 0, [\d.]+ m?s\n-- stdout\n\$ node migrate\.js\nmigrating the data to one$/m,
    );

    // 2. A failing migration: the deployment fails, nobody else is sent anything, nobody switches.
    const v2 = await cluster.push(migratingTree('two', { fail: true }), 'two');
    const failed = await deploy(['deploy', `web@${v2}`, '--env', 'qa']);
    expect(failed.result.code).not.toBe(0);
    expect(failed.deployment.state).toBe('failed');
    expect(failed.deployment.error).toContain('migrations');
    expect(failed.deployment.migratedOn).toBeNull();
    expect(failed.deployment.installs.map((i) => [i.host, i.state])).toEqual([
      ['qa-1', 'failed'],
      ['qa-2', 'cancelled'],
      ['qa-3', 'cancelled'],
    ]);
    const qa1 = failed.deployment.installs[0]!;
    expect(qa1.step?.step).toBe('migrate');
    expect(qa1.step?.state).toBe('failed');
    for (const host of QA) {
      expect(await readlink(path.join(appDir(host), 'current'))).toBe(`releases/${v1}`);
      expect(await cluster.health(host)).toMatchObject({ ok: true, version: String(v1) });
      // The failed release is not left on qa-1, and never reached the others.
      await expect(access(path.join(appDir(host), 'releases', String(v2)))).rejects.toThrow();
    }
    const failedLogs = await cluster.ferry(['logs', failed.deployment.id]);
    expect(failedLogs.stdout).toContain('column already exists');

    // 3. A good one again: migrates once more, on qa-1.
    const v3 = await cluster.push(migratingTree('three'), 'three');
    const third = await deploy(['deploy', `web@${v3}`, '--env', 'qa']);
    expect(third.result.code, third.result.stderr).toBe(0);
    expect(third.deployment.migratedOn).toBe('qa-1');
    expect(await migrationsLog('qa-1')).toBe(`one v${v1}\nthree v${v3}\n`);

    // 4. Going back across it asks for --yes, also of a --json caller.
    const refused = await cluster.ferry(['rollback', 'web', '--env', 'qa']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('[E_ROLLBACK_OVER_MIGRATIONS]');
    expect(refused.stderr).toContain(`web@${v3} (on qa-1`);
    expect(refused.stderr).toContain('--yes');
    const refusedJson = await cluster.ferry(['rollback', 'web', '--env', 'qa', '--json']);
    expect(refusedJson.code).toBe(1);
    expect(refusedJson.stderr).toContain('E_ROLLBACK_OVER_MIGRATIONS');
    for (const host of QA)
      expect(await readlink(path.join(appDir(host), 'current'))).toBe(`releases/${v3}`);

    const back = await deploy(['rollback', 'web', '--env', 'qa', '--yes']);
    expect(back.result.code, back.result.stderr).toBe(0);
    expect(back.deployment.kind).toBe('rollback');
    expect(back.deployment.version).toBe(v1);
    expect(back.deployment.migratedOn).toBeNull();
    // No migration ran again, anywhere.
    expect(await migrationsLog('qa-1')).toBe(`one v${v1}\nthree v${v3}\n`);
    expect(await migrationsLog('qa-2')).toBeNull();
    for (const host of QA) {
      expect(await readlink(path.join(appDir(host), 'current'))).toBe(`releases/${v1}`);
      expect(await cluster.health(host)).toMatchObject({ ok: true, version: String(v1) });
    }
  }, 300_000);

  it('a deployment whose migrating host then fails its health check goes no further', async () => {
    expect((await cluster.ferry(['vars', 'set', 'BREAK=no', '--env', 'qa'])).code).toBe(0);
    expect((await cluster.ferry(['vars', 'set', 'BREAK=yes', '--host', 'qa-1'])).code).toBe(0);
    const before = (await migrationsLog('qa-1')) ?? '';
    const v4 = await cluster.push(migratingTree('four', { breakable: true }), 'four');
    const { result, deployment } = await deploy(['deploy', `web@${v4}`, '--env', 'qa']);
    expect(result.code).not.toBe(0);
    // The migration ran (and stays run); with maxFailures 0 nobody else is sent anything.
    expect(deployment.migratedOn).toBe('qa-1');
    expect(await migrationsLog('qa-1')).toBe(`${before}four v${v4}\n`);
    expect(deployment.installs.map((i) => [i.host, i.state])).toEqual([
      ['qa-1', 'failed'],
      ['qa-2', 'cancelled'],
      ['qa-3', 'cancelled'],
    ]);
    expect(deployment.installs[0]!.rolledBack).toBe(true);
    for (const host of QA) {
      expect(await readlink(path.join(appDir(host), 'current'))).not.toBe(`releases/${v4}`);
      expect(await cluster.health(host)).toMatchObject({ ok: true });
    }
  }, 120_000);

  it('never migrate again for a release that landed before, and make going back by deploy ask for --yes', async () => {
    const bundles = await cluster.api().bundles('web', 10);
    const v1 = bundles.find((b) => b.label === 'one')!.version;
    const v3 = bundles.find((b) => b.label === 'three')!.version;
    const before = await migrationsLog('qa-1');
    const v4 = bundles.find((b) => b.label === 'four')!.version;
    // web@4's migrations ran in qa (its health check failed after): going back to
    // web@3 by `deploy` asks for --yes, as `ferry rollback` would.
    const refused3 = await cluster.ferry(['deploy', `web@${v3}`, '--env', 'qa']);
    expect(refused3.code).toBe(1);
    expect(refused3.stderr).toContain('[E_ROLLBACK_OVER_MIGRATIONS]');
    expect(refused3.stderr).toContain(`web@${v4} (on qa-1`);
    // web@3 landed in qa before (then qa went back to web@1): deploying it again migrates nowhere.
    const again = await deploy(['deploy', `web@${v3}`, '--env', 'qa', '--yes']);
    expect(again.result.code, again.result.stderr).toBe(0);
    expect(again.deployment.migratedOn).toBeNull();
    expect(await migrationsLog('qa-1')).toBe(before);
    for (const host of QA) {
      expect(await readlink(path.join(appDir(host), 'current'))).toBe(`releases/${v3}`);
    }
    // And a redeploy of what runs now neither.
    const redeploy = await deploy(['deploy', `web@${v3}`, '--env', 'qa']);
    expect(redeploy.result.code, redeploy.result.stderr).toBe(0);
    expect(redeploy.deployment.migratedOn).toBeNull();
    expect(await migrationsLog('qa-1')).toBe(before);

    // Going back across migrations by `deploy`: refused as `ferry rollback` is, until --yes.
    const refused = await cluster.ferry(['deploy', `web@${v1}`, '--env', 'qa']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('[E_ROLLBACK_OVER_MIGRATIONS]');
    expect(refused.stderr).toContain('--yes');
    for (const host of QA)
      expect(await readlink(path.join(appDir(host), 'current'))).toBe(`releases/${v3}`);
    const back = await deploy(['deploy', `web@${v1}`, '--env', 'qa', '--yes']);
    expect(back.result.code, back.result.stderr).toBe(0);
    expect(back.deployment.migratedOn).toBeNull();
    expect(await migrationsLog('qa-1')).toBe(before);
    for (const host of QA)
      expect(await readlink(path.join(appDir(host), 'current'))).toBe(`releases/${v1}`);
  }, 180_000);

  it('migrate on the first host of the wave that is there, when the whole first batch is away', async () => {
    const v = await cluster.push(migratingTree('lab'), 'lab');
    const { deployment } = await deploy(['deploy', `web@${v}`, '--env', 'lab']);
    // lab-0 (batch 0) never came; lab-1 (batch 1) migrated before lab-2 was sent anything.
    expect(deployment.installs.map((i) => [i.host, i.state])).toEqual([
      ['lab-0', 'skipped'],
      ['lab-1', 'succeeded'],
      ['lab-2', 'succeeded'],
    ]);
    expect(deployment.migratedOn).toBe('lab-1');
    expect(await migrationsLog('lab-1')).toBe(`lab v${v}\n`);
    expect(await migrationsLog('lab-2')).toBeNull();
  }, 120_000);

  it('never hand the migrations to another host once one began them, even when it goes away', async () => {
    const v = await cluster.push(migratingTree('slow', { slow: true }), 'slow');
    const started = await cluster.ferry(['deploy', `web@${v}`, '--env', 'lab', '--detach']);
    expect(started.code, started.stderr).toBe(0);
    const id = /\((dep_[0-9a-f]+)\)/.exec(started.stdout)![1]!;
    // lab-1 is in its migrations: its agent dies, and it stays away past offlineTimeout.
    await waitFor('lab-1 to begin the migrations', async () => {
      const record = await cluster.api().deployment(id);
      return record.installs.find((i) => i.host === 'lab-1')?.step?.step === 'migrate'
        ? true
        : undefined;
    });
    await cluster.stopAgent('lab-1');
    const ended = await waitFor('the deployment to end', async () => {
      const record = await cluster.api().deployment(id);
      return ['pending', 'running'].includes(record.state) ? undefined : record;
    });
    expect(ended.state).toBe('failed');
    expect(ended.error).toContain(`lab-1 went away during the migrations of web@${v}`);
    expect(ended.error).toContain('they are not handed to another host');
    expect(ended.installs.map((i) => [i.host, i.state])).toEqual([
      ['lab-0', 'skipped'],
      ['lab-1', 'skipped'],
      ['lab-2', 'cancelled'],
    ]);
    expect(ended.migratedOn).toBeNull();
    // lab-2 never ran them, and still runs the release it had.
    expect(await migrationsLog('lab-2')).toBeNull();
    expect(await cluster.health('lab-2')).toMatchObject({ ok: true });
    await cluster.startAgentAgain('lab-1');
  }, 120_000);

  it('never run again on a host whose agent died after the switch and resumed the job', async () => {
    const gate = path.join(cluster.work, 'resume-gate');
    const before = (await migrationsLog('qa-1')) ?? '';
    const v = await cluster.push(migratingTree('resume', { gateFile: gate }), 'resume');
    const started = await cluster.ferry(['deploy', `web@${v}`, '--env', 'qa', '--detach']);
    expect(started.code, started.stderr).toBe(0);
    const id = /\((dep_[0-9a-f]+)\)/.exec(started.stdout)![1]!;
    // qa-1 migrated, switched, and waits in its health check: its agent dies there.
    await waitFor('qa-1 to switch and check its health', async () => {
      const record = await cluster.api().deployment(id);
      return record.installs.find((i) => i.host === 'qa-1')?.step?.step === 'health'
        ? true
        : undefined;
    });
    expect(await migrationsLog('qa-1')).toBe(`${before}resume v${v}\n`);
    await cluster.stopAgent('qa-1');
    await writeFile(gate, '');
    await cluster.startAgentAgain('qa-1');
    const ended = await waitFor('the deployment to end', async () => {
      const record = await cluster.api().deployment(id);
      return ['pending', 'running'].includes(record.state) ? undefined : record;
    });
    expect(ended.state, ended.error ?? '').toBe('succeeded');
    expect(ended.migratedOn).toBe('qa-1');
    // The resumed job went on from the switch: the migration ran once.
    expect(await migrationsLog('qa-1')).toBe(`${before}resume v${v}\n`);
    for (const host of QA)
      expect(await readlink(path.join(appDir(host), 'current'))).toBe(`releases/${v}`);
    expect(await migrationsLog('qa-2')).toBeNull();
    expect(await migrationsLog('qa-3')).toBeNull();
  }, 180_000);

  it('a deployment to an environment with no host of the role sets no desired release: a host that joins later is not given a release never migrated', async () => {
    const v = await cluster.push(migratingTree('bare'), 'bare');
    const { result, deployment } = await deploy(['deploy', `web@${v}`, '--env', 'bare']);
    expect(result.code).toBe(1);
    expect(deployment.state).toBe('no_hosts');
    expect(deployment.error).toBe(
      `no host in bare has the role web: web@${v} was installed nowhere, and its migrations ran nowhere, ` +
        'so it is not the desired release there (a host that joins is not given it); ' +
        'deploy it again once a host has the role',
    );
    const bare = async () =>
      (await cluster.api().status('web'))[0]!.environments.find((e) => e.env === 'bare')!;
    expect((await bare()).desired).toBeNull();

    // A host with the role joins: it reports what it runs, and catch-up gives it nothing.
    await cluster.addHost('bare-1', 'bare');
    await waitFor('bare-1 to report its facts', async () =>
      (await cluster.api().hosts('bare')).find((h) => h.name === 'bare-1')?.facts
        ? true
        : undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect((await cluster.json<DeploymentRecord>(['deployment', deployment.id])).installs).toEqual(
      [],
    );
    await expect(access(path.join(appDir('bare-1'), 'current'))).rejects.toThrow();

    // Deployed again, now that a host is there: it migrates there, once, and lands.
    const again = await deploy(['deploy', `web@${v}`, '--env', 'bare']);
    expect(again.result.code, again.result.stderr).toBe(0);
    expect(again.deployment.migratedOn).toBe('bare-1');
    expect(await migrationsLog('bare-1')).toBe(`bare v${v}\n`);
    expect((await bare()).desired?.version).toBe(v);
  }, 120_000);

  it('promote, by hand or automatically, never goes back across migrations unasked', async () => {
    const bundles = await cluster.api().bundles('web', 20);
    const vLab = bundles.find((b) => b.label === 'lab')!.version;
    const vBare = bundles.find((b) => b.label === 'bare')!.version;
    // web@vLab landed in lab; bare, the environment after lab, has migrated web@vBare since.
    const marked = await cluster.ferry(['mark', `web@${vLab}`, 'passed']);
    expect(marked.code, marked.stderr).toBe(0);
    const [auto] = await cluster.api().deployments({ app: 'web', env: 'bare', limit: 1 });
    expect([auto?.kind, auto?.version, auto?.state, auto?.installs]).toEqual([
      'auto-promote',
      vLab,
      'failed',
      [],
    ]);
    expect(auto?.error).toContain(
      `Migrations ran in bare since web@${vLab}: web@${vBare} (on bare-1`,
    );
    expect(auto?.error).toContain(
      `it is not promoted by itself: ferry promote web@${vLab} --yes goes back anyway`,
    );
    expect(marked.stdout).toContain(`auto-promote to bare: ${auto?.id} (failed): Migrations ran`);
    // Why is in the history.
    const history = await cluster.api().history('web', 50);
    expect(history.find((h) => h.deploymentId === auto?.id)).toMatchObject({
      detail: 'auto-promote failed',
      note: auto?.error,
    });
    expect(await readlink(path.join(appDir('bare-1'), 'current'))).toBe(`releases/${vBare}`);

    // By hand, it asks for --yes, as ferry rollback does.
    const refused = await cluster.ferry(['promote', `web@${vLab}`]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('[E_ROLLBACK_OVER_MIGRATIONS]');
    expect(refused.stderr).toContain(`web@${vBare} (on bare-1`);
    expect(await readlink(path.join(appDir('bare-1'), 'current'))).toBe(`releases/${vBare}`);
    const promoted = await deploy(['promote', `web@${vLab}`, '--yes']);
    expect(promoted.result.code, promoted.result.stderr).toBe(0);
    expect([promoted.deployment.env, promoted.deployment.version]).toEqual(['bare', vLab]);
    expect(await readlink(path.join(appDir('bare-1'), 'current'))).toBe(`releases/${vLab}`);
  }, 120_000);

  it('ferry mark failed --rollback goes back across migrations only with --yes', async () => {
    const bundles = await cluster.api().bundles('web', 20);
    const v1 = bundles.find((b) => b.label === 'one')!.version;
    const vResume = bundles.find((b) => b.label === 'resume')!.version;
    // qa runs web@vResume, whose migrations ran there; the release it had before is web@v1.
    const alone = await cluster.ferry(['mark', `web@${vResume}`, 'failed', '--yes']);
    expect(alone.code).toBe(1);
    expect(alone.stderr).toContain('[E_BAD_REQUEST]');

    // The verdict is recorded, but the rollback asked for was not done: exit 1.
    const refused = await cluster.ferry(['mark', `web@${vResume}`, 'failed', '--rollback']);
    expect(refused.code, refused.stderr).toBe(1);
    expect(await cluster.api().verdicts('web', vResume)).toContainEqual(
      expect.objectContaining({ verdict: 'failed' }),
    );
    expect(refused.stdout).toContain(
      `not deployed to qa (rollback): Migrations ran in qa since web@${v1}: web@${vResume} (on qa-1`,
    );
    expect(refused.stdout).toContain(
      `pass --yes to go back anyway (ferry mark web@${vResume} failed --rollback --yes)`,
    );
    for (const host of QA)
      expect(await readlink(path.join(appDir(host), 'current'))).toBe(`releases/${vResume}`);

    const yes = await cluster.ferry(['mark', `web@${vResume}`, 'failed', '--rollback', '--yes']);
    expect(yes.code, yes.stderr).toBe(0);
    const id = /rollback to qa: (dep_[0-9a-f]+)/.exec(yes.stdout)?.[1];
    expect(id, yes.stdout).toBeDefined();
    const ended = await waitFor('the rollback to end', async () => {
      const record = await cluster.api().deployment(id!);
      return ['pending', 'running'].includes(record.state) ? undefined : record;
    });
    expect([ended.kind, ended.version, ended.state]).toEqual(['rollback', v1, 'succeeded']);
    expect(ended.migratedOn).toBeNull();
    for (const host of QA)
      expect(await readlink(path.join(appDir(host), 'current'))).toBe(`releases/${v1}`);
  }, 120_000);
});
