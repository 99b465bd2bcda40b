import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryEntry } from '../src/protocol/deployment-api.js';
import { ApiError } from '../src/client/ferry-client.js';
import { type Report, reportSchema } from '../src/protocol/report-api.js';
import { LIFECYCLE_BACKENDS } from './helpers/backends.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { webAppTree } from './helpers/web-app.js';

/**
 * The release report through the real server, on SQLite and on PostgreSQL:
 * a bundle that went to qa and prod, then one whose health check fails on one
 * prod host and is rolled back; `GET /report` tells each install, host by
 * host, with where the failure was and the command for its full log, the
 * path with times, the counts, what blocked, and the notes people added.
 */

const CONFIG = `
environments:
  - { name: qa }
  - name: prod
    requires: passed
    strategy: { batch: 1, maxFailures: 0, rollbackOnFailure: true }
`;

/** A secret variable's value: the service prints it as a warning, and no report may show it. */
const SECRET = 'tok-5ecret-7d1f0c';

const STORES = LIFECYCLE_BACKENDS.filter((b) => b.name !== 'RabbitMQ');

for (const backend of STORES) {
  describe.skipIf(!backend.available())(`the release report on ${backend.name}`, () => {
    let cluster: Cluster;
    let cleanup: () => Promise<void> = () => Promise.resolve();
    let v1: number;
    let v2: number;

    const report = (query: Record<string, string | number>): Promise<Report> =>
      cluster.api().client.call('report', { query: query as { label: string } });

    async function toProd(version: number, expected: number): Promise<void> {
      const qa = await cluster.ferry(['deploy', `web@${version}`, '--env', 'qa']);
      expect(qa.code, qa.stdout + qa.stderr).toBe(0);
      expect((await cluster.ferry(['mark', `web@${version}`, 'passed'])).code).toBe(0);
      const prod = await cluster.ferry(['deploy', `web@${version}`, '--env', 'prod']);
      expect(prod.code, prod.stdout + prod.stderr).toBe(expected);
    }

    beforeAll(async () => {
      const setup = await backend.setup();
      cleanup = setup.cleanup;
      cluster = await Cluster.start({
        ...setup.options,
        config: CONFIG + (setup.options.config ?? ''),
      });
      await cluster.addHost('qa-1', 'qa');
      for (const name of ['prod-1', 'prod-2']) await cluster.addHost(name, 'prod');
      await cluster.setVar('BREAK', 'no');
      await cluster.setVar('BREAK', 'yes', { host: 'prod-2' });
      await cluster.setVar('API_TOKEN', SECRET, { secret: true });
      v1 = await cluster.push(webAppTree('one'), 'r1');
      await toProd(v1, 0);
      v2 = await cluster.push(
        webAppTree('two', { breakable: true, healthTimeout: '3s', printVar: 'API_TOKEN' }),
        'r2',
      );
      await toProd(v2, 1);
      const noted = await cluster.ferry([
        'note',
        'add',
        '--label',
        'r2',
        '--section',
        'deployment',
        '--impact',
        'major',
        '--text',
        'web@2 does not start on prod-2',
      ]);
      expect(noted.code, noted.stderr).toBe(0);
      const acted = await cluster.ferry([
        'action',
        'add',
        noted.stdout.trim(),
        '--owner',
        'bob',
        '--text',
        'look at BREAK',
      ]);
      expect(acted.code, acted.stderr).toBe(0);
    }, 240_000);

    afterAll(async () => {
      await cluster?.close();
      await cleanup();
    });

    it('tells a rolled-back release: blocked, each host, the failure and its log command', async () => {
      const answer = await report({ label: 'r2' });
      expect(reportSchema.parse(answer)).toBeTruthy();
      expect(answer.subject).toEqual({ kind: 'label', label: 'r2' });
      expect(answer.bundles.map((b) => [b.app, b.version, b.label, b.verdict.state])).toEqual([
        ['web', v2, 'r2', 'passed'],
      ]);
      const { summary } = answer;
      expect(summary.headline).toMatch(new RegExp(`^blocked: web@${v2} was rolled back in prod: `));
      expect(summary.headline).toContain('1 open action');
      expect(summary.blockers).toHaveLength(1);
      expect(summary.openNotes).toBe(1);
      expect(summary.openActions).toBe(1);
      const path = summary.paths[0]!;
      expect(path.stops.map((s) => [s.kind, s.env, s.outcome])).toEqual([
        ['pushed', null, null],
        ['deployed', 'qa', 'succeeded'],
        ['verdict', null, 'passed'],
        ['deployed', 'prod', 'rolled_back'],
      ]);
      expect(path.leadTimeMs).toBeNull();
      expect(summary.tallies).toEqual([
        {
          env: 'qa',
          app: 'web',
          version: v2,
          hosts: 1,
          installed: 1,
          failed: 0,
          rolledBack: 0,
          away: 0,
          runningNow: 1,
        },
        {
          env: 'prod',
          app: 'web',
          version: v2,
          hosts: 2,
          installed: 1,
          failed: 1,
          rolledBack: 2,
          away: 0,
          runningNow: 0,
        },
      ]);

      const prod = answer.environments.find((e) => e.env === 'prod')!;
      expect(prod.deployments.map((d) => [d.version, d.state])).toEqual([[v2, 'rolled_back']]);
      const installs = prod.hosts.map((h) => [
        h.host,
        h.installs.map((i) => [i.purpose, i.version, i.state]),
      ]);
      expect(installs).toEqual([
        [
          'prod-1',
          [
            ['deploy', v2, 'succeeded'],
            ['revert', v1, 'succeeded'],
          ],
        ],
        ['prod-2', [['deploy', v2, 'failed']]],
      ]);
      const failed = prod.hosts[1]!.installs[0]!;
      expect(failed.rolledBack).toBe(true);
      expect(failed.failure).toMatchObject({
        step: 'health',
        logsCommand: `ferry logs ${failed.id}`,
      });
      expect(failed.failure!.error).toContain('health check failed');
      expect(failed.failure!.lastLines.length).toBeGreaterThan(0);
      expect(failed.failure!.lastLines.length).toBeLessThanOrEqual(20);
      expect(failed.steps.map((s) => s.step)).toContain('fetch');
      expect(failed.steps.every((s) => s.durationMs === null || s.durationMs >= 0)).toBe(true);

      const deployment = answer.notes.find((s) => s.section === 'deployment')!;
      expect(deployment.notes.map((n) => [n.impact, n.text, n.actions.length])).toEqual([
        ['major', 'web@2 does not start on prod-2', 1],
      ]);
      expect(answer.notes.map((s) => s.section)).toEqual([
        'deployment',
        'patch',
        'testing',
        'misc',
      ]);
    }, 60_000);

    it('tells one bundle that went everywhere: its lead time, hosts running it now', async () => {
      const answer = await report({ app: 'web', version: v1 });
      expect(answer.subject).toEqual({ kind: 'bundle', app: 'web', version: v1 });
      // Nothing blocked and nothing found, but what depends on the machine's
      // speed: on a loaded one, a health check may pass only after several
      // attempts (a `flaky` finding), which the headline counts.
      expect(answer.summary.headline).toMatch(/^smooth: nothing blocked(, \d+ findings?)?$/);
      const timing = new Set(['flaky', 'slow']);
      expect(answer.findings.filter((f) => !timing.has(f.kind)).map((f) => f.title)).toEqual([]);
      expect(answer.summary.findings).toBe(answer.findings.length);
      expect(answer.summary.paths[0]!.leadTimeMs).toBeGreaterThan(0);
      const prod = answer.summary.tallies.find((t) => t.env === 'prod')!;
      // Both prod hosts run v1 again: prod-1 put back by the revert, prod-2 by its own agent.
      expect(prod).toMatchObject({ hosts: 2, installed: 2, failed: 0, runningNow: 2 });
      const prod1 = answer.environments.find((e) => e.env === 'prod')!.hosts[0]!;
      expect(prod1.installs.map((i) => i.purpose)).toEqual(['deploy', 'revert']);
    }, 60_000);

    it('prints the report as JSON with ferry report --json, and refuses a call naming neither or both', async () => {
      const printed = await cluster.json<Report>(['report', '--label', 'r2']);
      expect(printed.subject).toEqual({ kind: 'label', label: 'r2' });
      expect(printed.summary.tallies).toEqual((await report({ label: 'r2' })).summary.tallies);
      const one = await cluster.json<Report>(['report', `web@${v1}`]);
      expect(one.bundles.map((b) => b.version)).toEqual([v1]);
      for (const args of [['report'], ['report', `web@${v1}`, '--label', 'r1']]) {
        const refused = await cluster.ferry([...args, '--json']);
        expect(refused.code).toBe(1);
        expect(refused.stderr).toContain('[E_BAD_REQUEST]');
      }
      // The same report in each form: the failed host and the command for its full log.
      const prod2 = printed.environments.find((e) => e.env === 'prod')!.hosts[1]!;
      const logsCommand = prod2.installs[0]!.failure!.logsCommand;
      for (const format of ['terminal', 'md', 'html']) {
        const shown = await cluster.ferry(['report', '--label', 'r2', '--format', format]);
        expect(shown.code, shown.stderr).toBe(0);
        expect(shown.stdout).toContain('prod-2');
        expect(shown.stdout).toContain(logsCommand);
      }
      const unknown = await cluster.ferry(['report', '--label', 'nope', '--json']);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain('[E_LABEL_NOT_FOUND]');
    }, 60_000);

    it('writes the report of each bundle whose deployment to prod ended into the data folder, and records it', async () => {
      const dir = path.join(cluster.server.dataDir, 'reports');
      for (const version of [v1, v2]) {
        const file = path.join(dir, `web@${version}.json`);
        // Written by an effect of the deployment's end, which the CLI may see first.
        const written = await waitFor(`${file}`, () =>
          readFile(file, 'utf8').then(
            (text) => JSON.parse(text) as Report,
            () => undefined,
          ),
        );
        expect(reportSchema.parse(written).subject).toEqual({
          kind: 'bundle',
          app: 'web',
          version,
        });
        expect((await stat(file)).mode & 0o777).toBe(0o600);
      }
      const v2File = JSON.parse(await readFile(path.join(dir, `web@${v2}.json`), 'utf8')) as Report;
      expect(v2File.summary.headline).toMatch(/^blocked: /);
      const history = await cluster.json<HistoryEntry[]>(['history', 'web']);
      const reports = history.filter((e) => e.type === 'report');
      expect(reports.map((e) => [e.version, e.env, e.by])).toEqual([
        [v2, 'prod', 'ferry'],
        [v1, 'prod', 'ferry'],
      ]);
      expect(reports[0]!.detail).toBe(
        `wrote the report of web@${v2} after its deployment to prod ended rolled_back: ` +
          `reports/web@${v2}.md, reports/web@${v2}.html, reports/web@${v2}.json`,
      );
      const markdown = await readFile(path.join(dir, `web@${v2}.md`), 'utf8');
      expect(markdown).toContain(`web@${v2}`);
      expect(markdown).toContain('prod-2');
      const html = await readFile(path.join(dir, `web@${v2}.html`), 'utf8');
      expect(html).toMatch(/^<!doctype html>/i);
      expect(html).toContain('prod-2');
      for (const ext of ['md', 'html'])
        expect((await stat(path.join(dir, `web@${v2}.${ext}`))).mode & 0o777).toBe(0o600);
    }, 60_000);

    it("never shows a secret variable's value the service printed: not in --json, md, html, nor the files", async () => {
      const shown: [string, string][] = [];
      const json = await cluster.ferry(['report', '--label', 'r2', '--json']);
      expect(json.code, json.stderr).toBe(0);
      shown.push(['--json', json.stdout]);
      for (const format of ['terminal', 'md', 'html']) {
        const printed = await cluster.ferry(['report', `web@${v2}`, '--format', format]);
        expect(printed.code, printed.stderr).toBe(0);
        shown.push([format, printed.stdout]);
      }
      const dir = path.join(cluster.server.dataDir, 'reports');
      for (const version of [v1, v2])
        for (const ext of ['json', 'md', 'html']) {
          const file = path.join(dir, `web@${version}.${ext}`);
          shown.push([
            file,
            await waitFor(file, () => readFile(file, 'utf8').catch(() => undefined)),
          ]);
        }
      // The line was read: the report quotes it, masked.
      const warned = (JSON.parse(json.stdout) as Report).findings.flatMap((f) =>
        f.entries.map((e) => e.quote),
      );
      expect(warned).toContain('WARNING: starting with api token ••••');
      for (const [where, text] of shown) {
        expect(text.includes(SECRET), `the secret in ${where}`).toBe(false);
        expect(text.includes('tok-5ecret'), `part of the secret in ${where}`).toBe(false);
      }
    }, 60_000);

    it('refuses an unknown bundle, an unknown label and a query that names neither', async () => {
      const code = (query: Record<string, string | number>) =>
        report(query).then(
          () => 'answered',
          (err: unknown) => (err instanceof ApiError ? err.code : String(err)),
        );
      expect(await code({ app: 'web', version: 99 })).toBe('E_BUNDLE_NOT_FOUND');
      expect(await code({ label: 'nope' })).toBe('E_LABEL_NOT_FOUND');
      expect(await code({ app: 'web' })).toBe('E_BAD_REQUEST');
      expect(await code({ app: 'web', version: v1, label: 'r1' })).toBe('E_BAD_REQUEST');
    });
  });
}
