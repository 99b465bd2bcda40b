import { access, readlink, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  AppStatus,
  DeploymentLogs,
  DeploymentRecord,
  HistoryEntry,
} from '../src/protocol/deployment-api.js';
import { LIFECYCLE_BACKENDS } from './helpers/backends.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { makeTree } from './helpers/source-tree.js';
import { harnessFetch } from '../src/dev/harness-trust.js';

/**
 * The whole story of issue 4, end to end, on every backend (transport and
 * store) this machine has: push, automatic deployment to QA, QA's verdict, a
 * rolling promotion to prod, a broken version QA never gets past, a fix, and
 * a rollback that is a switch and a restart. At each step it checks the
 * records (`ferry status --json`, `ferry history --json`) and what is on each
 * host's disk and port.
 */

const EXAMPLE = fileURLToPath(new URL('../examples/hello', import.meta.url));
const QA = ['qa-1', 'qa-2'];
const PROD = ['prod-1', 'prod-2', 'prod-3'];

for (const backend of LIFECYCLE_BACKENDS) {
  describe.skipIf(!backend.available())(`the lifecycle story on ${backend.name}`, () => {
    let cluster: Cluster;
    let source: string;
    let cleanup: () => Promise<void> = () => Promise.resolve();

    beforeAll(async () => {
      const setup = await backend.setup();
      cleanup = setup.cleanup;
      cluster = await Cluster.start(setup.options);
      expect(cluster.server.output()).toContain(backend.serverSays);
      for (const name of ['dev-1', ...QA, ...PROD]) {
        await cluster.addHost(name, name.split('-')[0]!, { roles: ['hello'] });
      }
      source = await makeTree({}, path.join(cluster.work, 'hello-src'));
    }, 180_000);

    afterAll(async () => {
      await cluster?.close();
      await cleanup();
    });

    const status = async () => (await cluster.json<AppStatus[]>(['status', 'hello']))[0]!;
    const envStatus = async (env: string) =>
      (await status()).environments.find((e) => e.env === env)!;
    // The people's and the rollouts' story: the server's own lines (the
    // reports it writes as deployments to prod end) are checked in report.test.ts.
    const history = async () =>
      (await cluster.json<HistoryEntry[]>(['history', 'hello'])).filter((e) => e.type !== 'report');
    const current = (host: string) =>
      readlink(path.join(cluster.host(host).root, 'apps', 'hello', 'current'));
    const releases = (host: string) =>
      readdir(path.join(cluster.host(host).root, 'apps', 'hello', 'releases')).catch(() => []);

    /** Pushes the example app, changed by `edit`, and waits for the deployment to qa it starts. */
    async function push(label: string, edit: (code: string, manifest: string) => [string, string]) {
      const { cp, readFile, writeFile } = await import('node:fs/promises');
      await cp(EXAMPLE, source, { recursive: true });
      const [code, manifest] = edit(
        await readFile(path.join(EXAMPLE, 'server.js'), 'utf8'),
        await readFile(path.join(EXAMPLE, 'ferry.yml'), 'utf8'),
      );
      await writeFile(path.join(source, 'server.js'), code);
      await writeFile(path.join(source, 'ferry.yml'), manifest);
      const pushed = await cluster.json<{
        bundle: { version: number };
        deployments: { id: string; env: string }[];
      }>(['push', source, '--label', label]);
      expect(pushed.deployments.map((d) => d.env)).toEqual(['qa']);
      const deployment = await ended(pushed.deployments[0]!.id);
      return { version: pushed.bundle.version, deployment };
    }

    function ended(id: string): Promise<DeploymentRecord> {
      return waitFor(
        `deployment ${id}`,
        async () => {
          const d = await cluster.json<DeploymentRecord>(['deployment', id]);
          return ['pending', 'running'].includes(d.state) ? undefined : d;
        },
        120_000,
      );
    }

    /** Waits until every host of `env` reports `version` (facts follow each install). */
    async function hostsOn(env: string, version: number) {
      return waitFor(`${env} hosts on ${version}`, async () => {
        const hosts = (await envStatus(env)).hosts;
        return hosts.every((h) => h.version === version && h.health === 'ok') ? hosts : undefined;
      });
    }

    it('1. a push is numbered and deployed to qa by itself', async () => {
      const { version, deployment } = await push('1.0.0', (code, manifest) => [code, manifest]);
      expect(version).toBe(1);
      expect(deployment).toMatchObject({ kind: 'auto-deploy', env: 'qa', state: 'succeeded' });
      expect(deployment.installs.map((i) => [i.host, i.state])).toEqual([
        ['qa-1', 'succeeded'],
        ['qa-2', 'succeeded'],
      ]);
      await hostsOn('qa', 1);
      const qa = await envStatus('qa');
      expect(qa.desired).toMatchObject({
        version: 1,
        verdict: 'pending',
        deploymentId: deployment.id,
      });
      expect((await envStatus('prod')).desired).toBeNull();
      for (const host of QA) {
        expect(await current(host)).toBe('releases/1');
        expect(await cluster.health(host)).toMatchObject({ ok: true, version: '1' });
      }
      for (const host of [...PROD, 'dev-1']) {
        await expect(access(path.join(cluster.host(host).root, 'apps'))).rejects.toThrow();
      }
      const entries = await history();
      expect(entries.slice(0, 2).map((e) => [e.type, e.version, e.env, e.detail])).toEqual([
        ['deployment', 1, 'qa', 'auto-deploy succeeded'],
        ['push', 1, null, 'pushed (label 1.0.0), sha256 ' + entries[1]!.detail.slice(-12)],
      ]);
    }, 180_000);

    it('2. QA marks it passed, and it is promoted to prod host by host', async () => {
      const marked = await cluster.ferry([
        'mark',
        'hello@1',
        'passed',
        '--note',
        'checked by hand',
      ]);
      expect(marked.code, marked.stderr).toBe(0);
      expect((await envStatus('qa')).desired?.verdict).toBe('passed');

      const promoted = await cluster.ferry(['promote', 'hello@1']);
      expect(promoted.code, promoted.stderr).toBe(0);
      // Host by host: each one's install ended before the next batch's began.
      const id = /\((dep_[0-9a-f]+)\)/.exec(promoted.stdout)![1]!;
      const deployment = await cluster.json<DeploymentRecord>(['deployment', id]);
      expect(deployment).toMatchObject({ kind: 'promote', env: 'prod', state: 'succeeded' });
      const installs = deployment.installs;
      expect(installs.map((i) => [i.host, i.batch])).toEqual([
        ['prod-1', 0],
        ['prod-2', 1],
        ['prod-3', 2],
      ]);
      for (let i = 1; i < installs.length; i++) {
        expect(installs[i]!.startedAt! >= installs[i - 1]!.finishedAt!).toBe(true);
      }
      await hostsOn('prod', 1);
      for (const host of PROD) {
        expect(await current(host)).toBe('releases/1');
        expect(await cluster.health(host)).toMatchObject({ ok: true, version: '1' });
      }
      const [latest, verdict] = await history();
      expect(latest).toMatchObject({
        type: 'deployment',
        env: 'prod',
        detail: 'promote succeeded',
        by: 'admin',
      });
      expect(verdict).toMatchObject({ type: 'verdict', detail: 'passed', note: 'checked by hand' });
    }, 180_000);

    it('3. a broken version fails in qa, goes back by itself, is marked failed, and cannot reach prod', async () => {
      const { version, deployment } = await push('1.1.0', (code, manifest) => [
        code.replace('ok: true', 'ok: false'),
        manifest.replace(/timeout: \d+s/, 'timeout: 3s'),
      ]);
      expect(version).toBe(2);
      expect(deployment.state).toBe('rolled_back');
      expect(deployment.installs.map((i) => [i.host, i.state, i.rolledBack])).toEqual([
        ['qa-1', 'failed', true],
        ['qa-2', 'cancelled', false],
      ]);
      expect(await current('qa-1')).toBe('releases/1');
      expect(await cluster.health('qa-1')).toMatchObject({ ok: true, version: '1' });
      expect(await releases('qa-2')).not.toContain('2');
      const qa = await envStatus('qa');
      expect(qa.desired?.version).toBe(1);
      expect(qa.hosts.find((h) => h.host === 'qa-1')?.lastInstall).toMatchObject({
        version: 2,
        state: 'failed',
      });

      const verdicts = await cluster.json<{ verdict: string; by: string; note: string }[]>([
        'verdicts',
        'hello@2',
      ]);
      expect(verdicts[0]).toMatchObject({ verdict: 'failed', by: 'ferry' });
      expect(verdicts[0]!.note).toContain('install failed on qa-1 in qa: health check failed');
      const refused = await cluster.ferry(['deploy', 'hello@2', '--env', 'prod']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('[E_VERDICT_REQUIRED]');
      expect((await envStatus('prod')).desired?.version).toBe(1);
      // Nothing else moved: qa-2 and prod serve version 1 still.
      for (const host of ['qa-2', ...PROD]) {
        expect(await current(host)).toBe('releases/1');
        expect(await cluster.health(host)).toMatchObject({ ok: true, version: '1' });
      }
      const [verdict, rolledBack, pushed] = await history();
      expect(verdict).toMatchObject({ type: 'verdict', version: 2, detail: 'failed', by: 'ferry' });
      expect(rolledBack).toMatchObject({
        type: 'deployment',
        version: 2,
        env: 'qa',
        detail: 'auto-deploy rolled_back',
        deploymentId: deployment.id,
      });
      expect(pushed).toMatchObject({ type: 'push', version: 2, by: 'admin' });
      expect(pushed!.detail).toMatch(/^pushed \(label 1\.1\.0\)/);
    }, 180_000);

    it('4. the fix goes through qa, QA, and prod', async () => {
      const { version, deployment } = await push('1.2.0', (code, manifest) => [
        code.replace('hello from', 'hello again from'),
        manifest,
      ]);
      expect(version).toBe(3);
      expect(deployment.state).toBe('succeeded');
      expect((await cluster.ferry(['mark', 'hello@3', 'passed'])).code).toBe(0);
      const promoted = await cluster.ferry(['promote', 'hello@3']);
      expect(promoted.code, promoted.stderr).toBe(0);
      await hostsOn('prod', 3);
      for (const host of PROD) {
        expect(await current(host)).toBe('releases/3');
        expect((await releases(host)).sort()).toEqual(['1', '3']);
      }
      const prod = await envStatus('prod');
      expect(prod.desired).toMatchObject({ version: 3, verdict: 'passed' });
      // Every qa and prod host serves the fix on its port.
      await hostsOn('qa', 3);
      for (const host of [...QA, ...PROD]) {
        expect(await cluster.health(host)).toMatchObject({ ok: true, version: '3' });
        const page = await harnessFetch(`http://127.0.0.1:${cluster.host(host).port}/`);
        expect(await page.text()).toBe('hello again from version 3\n');
      }
      const [promotion, verdict, autoDeploy, pushed] = await history();
      expect(promotion).toMatchObject({
        type: 'deployment',
        version: 3,
        env: 'prod',
        detail: 'promote succeeded',
        by: 'admin',
      });
      expect(verdict).toMatchObject({ type: 'verdict', version: 3, detail: 'passed', by: 'admin' });
      expect(autoDeploy).toMatchObject({
        type: 'deployment',
        version: 3,
        env: 'qa',
        detail: 'auto-deploy succeeded',
        deploymentId: deployment.id,
      });
      expect(pushed).toMatchObject({ type: 'push', version: 3, by: 'admin' });
    }, 180_000);

    it('5. a rollback of prod is a switch and a restart on each host, recorded as a deployment', async () => {
      // hello@3's migration ran in prod: going back across it is asked for, and never re-runs one.
      const asked = await cluster.ferry(['rollback', 'hello', '--env', 'prod']);
      expect(asked.code).toBe(1);
      expect(asked.stderr).toContain('[E_ROLLBACK_OVER_MIGRATIONS]');
      expect(await current('prod-1')).toBe('releases/3');
      const rolled = await cluster.ferry(['rollback', 'hello', '--env', 'prod', '--yes']);
      expect(rolled.code, rolled.stderr).toBe(0);
      expect(rolled.stdout).toContain('rolling back hello in prod to hello@1');
      const id = /\((dep_[0-9a-f]+)\)/.exec(rolled.stdout)![1]!;
      const logs = await cluster.json<DeploymentLogs>(['logs', id]);
      expect(logs.installs.map((i) => i.host).sort()).toEqual(PROD);
      for (const install of logs.installs) {
        const steps = install.steps.map((s) => s.step);
        expect(steps).toContain('reuse');
        // Checked again (signature, manifest against the release's own), not fetched.
        expect(steps).toEqual(expect.arrayContaining(['verify', 'switch', 'start', 'health']));
        for (const skipped of ['fetch', 'unpack', 'install', 'migrate'])
          expect(steps).not.toContain(skipped);
      }
      await hostsOn('prod', 1);
      for (const host of PROD) {
        expect(await current(host)).toBe('releases/1');
        // The check was answered by the service the rollback restarted.
        const health = logs.installs
          .find((i) => i.host === host)!
          .steps.find((s) => s.step === 'health')!.stdout;
        expect(health).toContain(`port ${cluster.host(host).port}: held by the service (pid `);
        expect(await cluster.health(host), `${host}'s health step: ${health}`).toMatchObject({
          ok: true,
          version: '1',
        });
      }
      expect((await envStatus('prod')).desired).toMatchObject({ version: 1, deploymentId: id });
      expect((await envStatus('qa')).desired?.version).toBe(3);
      const [latest] = await history();
      expect(latest).toMatchObject({
        type: 'rollback',
        version: 1,
        env: 'prod',
        detail: 'rollback succeeded',
        deploymentId: id,
      });
    }, 180_000);
  });
}
