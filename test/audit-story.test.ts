import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PushResult } from '../src/protocol/api.js';
import type { AuditEntry } from '../src/protocol/audit-api.js';
import type { DeploymentRecord } from '../src/protocol/deployment-api.js';
import { LIFECYCLE_BACKENDS } from './helpers/backends.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { makeTree } from './helpers/source-tree.js';
import { webAppTree } from './helpers/web-app.js';

/**
 * The audit log on a real server, its agents and the real CLI, on SQLite and
 * on PostgreSQL: the writes of the lifecycle story (push, deploy, mark,
 * promote, rollback, cancel, variables, tokens, hosts, notes and actions) and
 * refusals (a revoked and an unknown token, a role not allowed, a protected
 * environment) are each found in `ferry audit --json` with who, from where
 * and the outcome; `--since` and `--who` filter; no secret is in it.
 */

const STORE_BACKENDS = LIFECYCLE_BACKENDS.filter((b) => !b.name.includes('RabbitMQ'));
const SECRET = 'eu-west-secret-value-7f3a';

for (const backend of STORE_BACKENDS) {
  describe.skipIf(!backend.available())(`the audit log of the story on ${backend.name}`, () => {
    let cluster: Cluster;
    let cleanup: () => Promise<void> = () => Promise.resolve();

    beforeAll(async () => {
      const setup = await backend.setup();
      cleanup = setup.cleanup;
      cluster = await Cluster.start(setup.options);
      expect(cluster.server.output()).toContain(backend.serverSays);
      for (const [name, env] of [
        ['dev-1', 'dev'],
        ['qa-1', 'qa'],
        ['prod-1', 'prod'],
      ] as const)
        await cluster.addHost(name, env);
    }, 180_000);

    afterAll(async () => {
      await cluster?.close();
      await cleanup();
    });

    async function push(mark: string): Promise<PushResult> {
      const dir = await makeTree(webAppTree(mark), path.join(cluster.work, 'src', mark));
      return cluster.json<PushResult>(['push', dir, '--label', mark]);
    }

    function ended(id: string): Promise<DeploymentRecord> {
      return waitFor(`deployment ${id}`, async () => {
        const d = await cluster.json<DeploymentRecord>(['deployment', id]);
        return ['pending', 'running'].includes(d.state) ? undefined : d;
      });
    }

    async function ok(args: string[], env: NodeJS.ProcessEnv = {}, input?: string) {
      const result = await cluster.ferry(args, env, input === undefined ? {} : { input });
      expect(result.code, `ferry ${args.join(' ')}: ${result.stderr}`).toBe(0);
      return result.stdout.trim();
    }

    async function refused(args: string[], token: string, code: string) {
      const result = await cluster.ferry(args, { FERRY_TOKEN: token });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(`[${code}]`);
    }

    /**
     * `ferry audit --json` (with `args`), once it holds `count` entries at
     * least: each is written just after its answer.
     */
    async function audit(args: string[] = [], count = 0): Promise<AuditEntry[]> {
      return waitFor('the audit entries', async () => {
        const entries = await cluster.json<AuditEntry[]>(['audit', ...args]);
        return entries.length >= count ? entries : undefined;
      });
    }

    it('holds every write of the story and every refusal, with who, from where and the outcome', async () => {
      // The story's writes.
      const first = await push('v1');
      await ended(first.deployments[0]!.id!);
      await ok(['deploy', 'web@1', '--env', 'dev']);
      await ok(['mark', 'web@1', 'passed', '--note', 'checked by hand']);
      await ok(['promote', 'web@1']);
      const second = await push('v2');
      const autoDeploy = await ended(second.deployments[0]!.id!);
      await ok(['rollback', 'web', '--env', 'qa', '--to', '1']);
      const cancelled = await cluster.ferry(['cancel', autoDeploy.id]);
      expect(cancelled.stderr).toContain('[E_DEPLOYMENT_FINISHED]');
      await cluster.setVar('REGION', SECRET, { env: 'qa', secret: true });
      await ok(['vars', 'unset', 'REGION', '--env', 'qa']);
      const ci = JSON.parse(
        await ok(['tokens', 'create', '--role', 'deployer', '--name', 'ci', '--json']),
      ) as { id: string; token: string };
      const qa = await cluster.token('qa');
      // Refusals: a protected environment, a role not allowed, a revoked token, an unknown one.
      await refused(['rollback', 'web', '--env', 'prod'], ci.token, 'E_FORBIDDEN');
      await refused(['deploy', 'web@1', '--env', 'dev', '--detach'], qa, 'E_FORBIDDEN');
      await ok(['tokens', 'revoke', ci.id]);
      await refused(['vars', 'unset', 'REGION'], ci.token, 'E_AUTH_INVALID');
      await refused(['hosts', 'remove', 'qa-1'], 'ferry_admin_not-a-token', 'E_AUTH_INVALID');
      const since = new Date().toISOString();
      await ok(['hosts', 'remove', 'dev-1']);
      const note = await ok([
        'note',
        'add',
        'web@1',
        '--section',
        'testing',
        '--impact',
        'minor',
        '--text',
        'slow first page',
      ]);
      await ok(['note', 'edit', note, '--impact', 'major']);
      const action = await ok(['action', 'add', note, '--owner', 'bob', '--text', 'profile it']);
      await ok(['action', 'done', action]);

      // Three enrolment tokens and enrolments, then the story's 21 requests.
      const entries = await audit([], 3 + 3 + 21);
      const admin = entries.find((e) => e.action === 'pushBundle')!.who!;
      expect(admin).toMatchObject({ name: 'admin', role: 'admin', via: 'token' });
      expect(entries.every((e) => e.from === '127.0.0.1')).toBe(true);
      const seen = entries.map((e) => [e.action, e.who?.name ?? null, e.outcome, e.target]);
      // The hosts' enrolment: an enrolment token each, then the host with it.
      for (const [host, env] of [
        ['dev-1', 'dev'],
        ['qa-1', 'qa'],
        ['prod-1', 'prod'],
      ]) {
        expect(seen).toContainEqual([
          'createToken',
          'admin',
          'ok',
          expect.objectContaining({ role: 'agent', env }),
        ]);
        expect(seen).toContainEqual([
          'enroll',
          expect.any(String),
          'ok',
          expect.objectContaining({ host, env }),
        ]);
      }
      const story = seen.slice(seen.findIndex(([action]) => action === 'pushBundle'));
      expect(story).toEqual([
        ['pushBundle', 'admin', 'ok', { app: 'web', version: 1, label: 'v1' }],
        [
          'deploy',
          'admin',
          'ok',
          { app: 'web', version: 1, env: 'dev', id: expect.stringMatching(/^dep_/) },
        ],
        ['markVerdict', 'admin', 'ok', { app: 'web', version: 1, verdict: 'passed' }],
        [
          'promote',
          'admin',
          'ok',
          { app: 'web', version: 1, env: 'prod', id: expect.stringMatching(/^dep_/) },
        ],
        ['pushBundle', 'admin', 'ok', { app: 'web', version: 2, label: 'v2' }],
        [
          'rollback',
          'admin',
          'ok',
          { app: 'web', version: 1, env: 'qa', id: expect.stringMatching(/^dep_/) },
        ],
        ['cancelDeployment', 'admin', 'E_DEPLOYMENT_FINISHED', { id: autoDeploy.id }],
        ['setVariable', 'admin', 'ok', { name: 'REGION', env: 'qa' }],
        ['unsetVariable', 'admin', 'ok', { name: 'REGION', env: 'qa' }],
        ['createToken', 'admin', 'ok', { name: 'ci', role: 'deployer', id: ci.id }],
        ['createToken', 'admin', 'ok', expect.objectContaining({ role: 'qa' })],
        ['rollback', 'ci', 'E_FORBIDDEN', { app: 'web', env: 'prod' }],
        ['deploy', expect.stringMatching(/qa/), 'E_FORBIDDEN', {}],
        ['revokeToken', 'admin', 'ok', { id: ci.id }],
        ['unsetVariable', null, 'E_AUTH_INVALID', { name: 'REGION' }],
        ['removeHost', null, 'E_AUTH_INVALID', { host: 'qa-1' }],
        ['removeHost', 'admin', 'ok', { host: 'dev-1' }],
        ['addNote', 'admin', 'ok', { app: 'web', version: 1, id: Number(note) }],
        ['editNote', 'admin', 'ok', { id: Number(note) }],
        ['addAction', 'admin', 'ok', { name: 'bob', id: Number(note) }],
        ['completeAction', 'admin', 'ok', { id: Number(action) }],
      ]);
      const statuses = entries.slice(-21).map((e) => e.status);
      expect(statuses.filter((s) => s === 403)).toHaveLength(2);
      expect(statuses.filter((s) => s === 401)).toHaveLength(2);
      // Neither the secret's value nor any token is in the log.
      const text = JSON.stringify(entries);
      for (const secret of [SECRET, ci.token, qa, cluster.server.adminToken, 'not-a-token'])
        expect(text).not.toContain(secret);

      // --since: from the host's removal on; --who: one token's, by name or id.
      const recent = await audit(['--since', since]);
      expect(recent.map((e) => e.action)).toEqual([
        'removeHost',
        'addNote',
        'editNote',
        'addAction',
        'completeAction',
      ]);
      expect((await audit(['--who', 'ci'])).map((e) => [e.action, e.outcome])).toEqual([
        ['rollback', 'E_FORBIDDEN'],
      ]);
      expect((await audit(['--who', ci.id])).map((e) => e.action)).toEqual(['rollback']);
      expect((await audit(['--since', '1h', '--who', 'admin', '--limit', '2'])).length).toBe(2);

      // The table, newest last.
      const table = (await ok(['audit', '--since', since])).split('\n');
      expect(table[0]).toMatch(/^AT\s+WHO\s+FROM\s+ACTION\s+TARGET\s+OUTCOME$/);
      expect(table.at(-1)).toMatch(
        new RegExp(
          `admin \\(admin\\)\\s+127\\.0\\.0\\.1\\s+completeAction\\s+id=${action}\\s+ok 200$`,
        ),
      );
      expect(table[1]).toMatch(/removeHost\s+host=dev-1\s+ok 204$/);

      // A full answer says there are more, on stderr; one that is not, nothing.
      const newest = await cluster.ferry(['audit', '--limit', '2']);
      expect(newest.code).toBe(0);
      expect(newest.stdout.trim().split('\n')).toHaveLength(3);
      expect(newest.stderr).toBe('showing the newest 2 entries of more; use --limit or --since\n');
      expect((await cluster.ferry(['audit', '--since', since])).stderr).toBe('');

      // Only an admin reads it.
      const asQa = await cluster.ferry(['audit'], { FERRY_TOKEN: qa });
      expect(asQa.code).toBe(1);
      expect(asQa.stderr).toContain('[E_FORBIDDEN]');
    }, 300_000);
  });
}
