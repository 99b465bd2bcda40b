import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentRecord, HistoryEntry } from '../src/protocol/deployment-api.js';
import { LIFECYCLE_BACKENDS } from './helpers/backends.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { webAppTree } from './helpers/web-app.js';

/**
 * `ferry history` is complete: besides pushes, deployments and verdicts, it
 * records installs by hand, catch-ups, cancels, variable changes (name and
 * scope, never a secret's value), host enrolments and removals, and tokens
 * made and revoked, each with who and when. On every store.
 */

const SECRET = 'hunter2-very-secret-value';
const STORES = LIFECYCLE_BACKENDS.filter((b) => b.name !== 'RabbitMQ');

for (const backend of STORES) {
  describe.skipIf(!backend.available())(`history on ${backend.name}`, () => {
    let cluster: Cluster;
    let cleanup: () => Promise<void> = () => Promise.resolve();

    beforeAll(async () => {
      const setup = await backend.setup();
      cleanup = setup.cleanup;
      cluster = await Cluster.start(setup.options);
      await cluster.addHost('qa-1', 'qa');
    }, 120_000);

    afterAll(async () => {
      await cluster?.close();
      await cleanup();
    });

    const ended = (id: string) =>
      waitFor(`${id} to end`, async () => {
        const d = await cluster.api().deployment(id);
        return ['pending', 'running'].includes(d.state) ? undefined : d;
      });

    it('records each kind of change with who and when, and no secret value', async () => {
      const v1 = await cluster.push(webAppTree('one'), 'one');
      const [auto] = await cluster.json<DeploymentRecord[]>(['deployments', '--app', 'web']);
      await ended(auto!.id);

      // An install by hand.
      const install = await cluster.ferry(['install', `web@${v1}`, '--host', 'qa-1']);
      expect(install.code, install.stderr).toBe(0);

      // Variables: set (a secret), then unset.
      expect(
        (await cluster.ferry(['vars', 'set', `API_KEY=${SECRET}`, '--secret', '--env', 'qa'])).code,
      ).toBe(0);
      expect((await cluster.ferry(['vars', 'unset', 'API_KEY', '--env', 'qa'])).code).toBe(0);
      // A variable of one app is in that app's history too.
      expect((await cluster.ferry(['vars', 'set', 'WEB_ONLY=1', '--app', 'web'])).code).toBe(0);

      // A token made and revoked.
      const made = await cluster.json<{ id: string }>([
        'tokens',
        'create',
        '--role',
        'deployer',
        '--name',
        'ci-bot',
      ]);
      expect((await cluster.ferry(['tokens', 'revoke', made.id])).code).toBe(0);

      // A cancel: a release held at its start (it listens only once the gate
      // file exists), its deployment cancelled while it runs, however slow the
      // machine; then let go, so its install ends.
      const gateDir = await mkdtemp(path.join(os.tmpdir(), 'ferry-history-gate-'));
      const gate = path.join(gateDir, 'open');
      const v2 = await cluster.push(
        webAppTree('slow', { gateFile: gate, healthTimeout: '60s' }),
        'slow',
      );
      const [slow] = await cluster.json<DeploymentRecord[]>(['deployments', '--app', 'web']);
      expect(slow!.version).toBe(v2);
      const cancelled = await cluster.ferry(['cancel', slow!.id]);
      expect(cancelled.code, cancelled.stderr).toBe(0);
      await writeFile(gate, '');
      await waitFor('the cancelled install to end', async () => {
        const d = await cluster.api().deployment(slow!.id);
        return d.installs.every((i) => !['pending', 'queued', 'running'].includes(i.state))
          ? d
          : undefined;
      });
      await rm(gateDir, { recursive: true, force: true });

      // A host that enrols late catches up, then is removed.
      await cluster.addHost('qa-2', 'qa');
      await waitFor('qa-2 to catch up', async () => {
        const history = await cluster.json<HistoryEntry[]>(['history', 'web']);
        return history.find((e) => e.type === 'catch-up' && e.detail.includes('qa-2 succeeded'));
      });
      expect((await cluster.ferry(['hosts', 'remove', 'qa-2'])).code).toBe(0);

      // The app's history: its own changes, not the server's.
      const web = await cluster.json<HistoryEntry[]>(['history', 'web']);
      expect(web.map((e) => e.type)).not.toContain('token');
      expect(web).toContainEqual(
        expect.objectContaining({
          type: 'install',
          app: 'web',
          version: v1,
          env: 'qa',
          by: 'admin',
          detail: 'install by hand on qa-1 succeeded',
        }),
      );
      expect(web).toContainEqual(
        expect.objectContaining({
          type: 'catch-up',
          app: 'web',
          env: 'qa',
          detail: expect.stringContaining('catch-up on qa-2'),
        }),
      );
      expect(web).toContainEqual(
        expect.objectContaining({
          type: 'variable',
          app: 'web',
          by: 'admin',
          detail: expect.stringMatching(/^set WEB_ONLY .*web/),
        }),
      );
      expect(web).toContainEqual(
        expect.objectContaining({
          type: 'cancel',
          app: 'web',
          version: v2,
          env: 'qa',
          by: 'admin',
          deploymentId: slow!.id,
          detail: 'cancelled auto-deploy (was running)',
        }),
      );

      // Everything: the server's changes too.
      const all = await cluster.ferry(['history', '--json']);
      expect(all.code, all.stderr).toBe(0);
      expect(all.stdout).not.toContain(SECRET);
      const entries = JSON.parse(all.stdout) as HistoryEntry[];
      const of = (type: string) =>
        entries.filter((e) => e.type === type).map((e) => [e.by, e.detail]);
      expect(of('variable')).toEqual([
        ['admin', expect.stringMatching(/^set WEB_ONLY .*web/)],
        ['admin', 'unset API_KEY for env qa'],
        ['admin', 'set secret API_KEY for env qa'],
      ]);
      expect(of('token')).toEqual(
        expect.arrayContaining([
          ['admin', 'revoked token ci-bot (role deployer)'],
          ['admin', 'created token ci-bot (role deployer)'],
          ['admin', expect.stringMatching(/^created token \S+ \(role agent, env qa\)$/)],
          [expect.any(String), 'created token agent-qa-1 (role agent, env qa)'],
        ]),
      );
      expect(of('host')).toEqual([
        ['admin', expect.stringMatching(/^removed host qa-2 \(host_\w+\)$/)],
        [
          expect.any(String),
          expect.stringMatching(/^enrolled host qa-2 \(host_\w+\) in qa, roles web$/),
        ],
        [
          expect.any(String),
          expect.stringMatching(/^enrolled host qa-1 \(host_\w+\) in qa, roles web$/),
        ],
      ]);
      for (const e of entries) expect(Number.isNaN(Date.parse(e.at))).toBe(false);
      // Newest first.
      expect([...entries.map((e) => e.at)].sort().reverse()).toEqual(entries.map((e) => e.at));

      // The table names the bundle of an app's line, nothing for the server's.
      const table = await cluster.ferry(['history']);
      expect(table.stdout).toMatch(
        /^[\d-]+ [\d:]+\s+cancel\s+web@\d+\s+qa\s+cancelled auto-deploy/m,
      );
      expect(table.stdout).toMatch(
        /^[\d-]+ [\d:]+\s+variable\s+-\s+qa\s+unset API_KEY for env qa\s+admin/m,
      );
    }, 180_000);

    it('ferry logs shows each step with its exit code and duration', async () => {
      const [install] = (await cluster.api().deployments({ app: 'web' })).flatMap(
        (d) => d.installs,
      );
      const logs = await cluster.ferry(['logs', install!.id]);
      expect(logs.code, logs.stderr).toBe(0);
      expect(logs.stdout).toMatch(/^== fetch: succeeded, [\d.]+ m?s$/m);
      const json = JSON.parse((await cluster.ferry(['logs', install!.id, '--json'])).stdout) as {
        steps: { step: string; state: string; exitCode: number | null; durationMs: number }[];
      };
      const fetch = json.steps.find((s) => s.step === 'fetch');
      expect(fetch).toMatchObject({ state: 'succeeded', exitCode: null });
      expect(fetch!.durationMs).toBeGreaterThanOrEqual(0);
    });
  });
}
