import { access, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentRecord } from '../src/protocol/deployment-api.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { webAppTree } from './helpers/web-app.js';
import { harnessFetch } from '../src/dev/harness-trust.js';

/**
 * The checks a deployment passes before any host is touched, and what it keeps
 * secret: the verdict gate, the roles, the deploy lock, missing variables and
 * secret values. One real server with real agents for the whole file.
 */

const CONFIG = `
environments:
  - { name: lab, strategy: { offlineTimeout: 3s } }
  - { name: dev }
  - { name: qa, autoDeploy: true }
  - { name: prod, requires: passed, strategy: { batch: 1, maxFailures: 0 } }
`;

const SECRET = 'sk-live-7f3a9c-never-show-me';

let cluster: Cluster;
/** CLI environments with tokens of each role. */
const as: Record<string, NodeJS.ProcessEnv> = {};
const tokens: Record<string, string> = {};

/** Calls the API with a token; answers status and parsed body. */
async function call(
  method: string,
  pathname: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await harnessFetch(`${cluster.server.url}/api/v1${pathname}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Waits for a deployment to end and returns it. */
function ended(id: string): Promise<DeploymentRecord> {
  return waitFor(`deployment ${id} to end`, async () => {
    const deployment = await cluster.api().deployment(id);
    return ['pending', 'running'].includes(deployment.state) ? undefined : deployment;
  });
}

/** The id of the newest deployment of `web` to `env`. */
async function newest(env: string): Promise<DeploymentRecord | undefined> {
  return (await cluster.api().deployments({ app: 'web', env, limit: 1 }))[0];
}

beforeAll(async () => {
  cluster = await Cluster.start({ config: CONFIG, serverArgs: ['--log-level', 'info'] });
  await cluster.addHost('qa-1', 'qa');
  await cluster.addHost('prod-1', 'prod');
  for (const [role, env] of [
    ['deployer', undefined],
    ['qa', undefined],
    ['agent', undefined],
  ] as const) {
    tokens[role] = await cluster.token(role, env);
    as[role] = { FERRY_TOKEN: tokens[role] };
  }
  tokens.deployerQa = await cluster.token('deployer', 'qa');
  as.deployerQa = { FERRY_TOKEN: tokens.deployerQa };
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

describe('the verdict gate', () => {
  it('lets a pushed bundle into qa by itself, and into prod only once QA marked it passed', async () => {
    const version = await cluster.push(webAppTree('gate'), 'gate');
    const auto = await newest('qa');
    expect(auto).toMatchObject({ version, kind: 'auto-deploy' });
    expect((await ended(auto!.id)).state).toBe('succeeded');

    const refused = await cluster.ferry(['deploy', `web@${version}`, '--env', 'prod']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `web@${version} is pending; the prod environment takes only bundles marked passed [E_VERDICT_REQUIRED]`,
    );
    const api = await call('POST', '/deployments', cluster.server.adminToken, {
      app: 'web',
      version,
      env: 'prod',
    });
    expect(api.status).toBe(409);
    expect(api.body).toMatchObject({
      code: 'E_VERDICT_REQUIRED',
      details: { has: 'pending', needs: 'passed', env: 'prod' },
    });

    expect((await cluster.ferry(['mark', `web@${version}`, 'failed'], as.qa)).code).toBe(0);
    const failed = await cluster.ferry(['promote', `web@${version}`]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain(`web@${version} is failed; the prod environment`);
    expect(await newest('prod')).toBeUndefined();

    expect((await cluster.ferry(['mark', `web@${version}`, 'passed'], as.qa)).code).toBe(0);
    const promoted = await cluster.ferry(['promote', `web@${version}`]);
    expect(promoted.stdout, promoted.stderr).toContain(`succeeded: web@${version} runs on prod-1`);
    expect(promoted.code).toBe(0);
    expect(await cluster.health('prod-1')).toMatchObject({ ok: true, version: String(version) });
  }, 120_000);
});

describe('roles', () => {
  it('refuses each call a role may not make with 403, naming the role it needs', async () => {
    const { version } = (await cluster.api().bundles('web', 1))[0]!;
    const refusals: [string, string, string, unknown, string[]][] = [
      ['deployer', 'POST', '/deployments', { app: 'web', version, env: 'prod' }, ['admin']],
      ['deployer', 'POST', '/rollbacks', { app: 'web', env: 'prod' }, ['admin']],
      ['qa', 'POST', '/deployments', { app: 'web', version, env: 'qa' }, ['admin', 'deployer']],
      ['qa', 'POST', '/promotions', { app: 'web', version }, ['admin', 'deployer']],
      [
        'deployerQa',
        'POST',
        '/deployments',
        { app: 'web', version, env: 'dev' },
        ['admin', 'deployer'],
      ],
      [
        'deployer',
        'POST',
        `/apps/web/bundles/${version}/verdict`,
        { verdict: 'passed' },
        ['qa', 'admin'],
      ],
      ['agent', 'GET', '/deployments', undefined, ['admin', 'deployer', 'qa']],
      ['agent', 'GET', '/status', undefined, ['admin', 'deployer', 'qa']],
    ];
    for (const [role, method, pathname, body, needs] of refusals) {
      const answer = await call(method, pathname, tokens[role]!, body);
      expect(answer.status, `${role} ${method} ${pathname}`).toBe(403);
      expect(answer.body, `${role} ${method} ${pathname}`).toMatchObject({
        code: 'E_FORBIDDEN',
        details: { needs },
      });
    }
    // The CLI says the same, and names the role needed.
    const cli = await cluster.ferry(['rollback', 'web', '--env', 'prod'], as.deployer);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain('needs a token with the admin role; yours has the deployer role');
    expect(cli.stderr).toContain('[E_FORBIDDEN]');

    // QA may mark, but not roll prod back with it: refused before the verdict is recorded.
    const before = await cluster.api().verdicts('web', version);
    const rollback = await cluster.ferry(['mark', `web@${version}`, 'failed', '--rollback'], as.qa);
    expect(rollback.code).toBe(1);
    expect(rollback.stderr).toContain('[E_FORBIDDEN]');
    expect(await cluster.api().verdicts('web', version)).toEqual(before);

    // What a deployer may do: deploy outside prod, in its own environment when bound to one.
    const allowed = await cluster.ferry(['deploy', `web@${version}`, '--env', 'qa'], as.deployerQa);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stdout).toContain(`succeeded: web@${version} runs on qa-1`);
  }, 120_000);
});

describe('the deploy lock', () => {
  it('refuses a second deployment of an app in an environment, naming the holder, and lets --wait-lock wait', async () => {
    // A lab host that never connects holds a rollout up for offlineTimeout (3 s).
    const enrolToken = await cluster.token('agent', 'lab');
    const enrolled = await call('POST', '/agents/enroll', enrolToken, {
      name: 'lab-away',
      env: 'lab',
      roles: ['web'],
      vars: { PORT: '1' },
    });
    expect(enrolled.status).toBe(201);
    const { version } = (await cluster.api().bundles('web', 1))[0]!;

    const first = await cluster.ferry(['deploy', `web@${version}`, '--env', 'lab', '--detach']);
    expect(first.code, first.stderr).toBe(0);
    const holder = /\((dep_[0-9a-f]+)\)/.exec(first.stdout)![1]!;

    const second = await call('POST', '/deployments', cluster.server.adminToken, {
      app: 'web',
      version,
      env: 'lab',
    });
    expect(second.status).toBe(409);
    expect(second.body).toMatchObject({
      code: 'E_DEPLOY_LOCKED',
      details: { holder, app: 'web', env: 'lab', by: 'admin', version },
    });
    const since = (second.body.details as { since: string }).since;
    expect(Date.now() - Date.parse(since)).toBeLessThan(60_000);
    expect(String(second.body.message)).toContain(
      `${holder} (web@${version} by admin) holds the lock since ${since}`,
    );

    // --wait-lock waits for the holder to end, then goes.
    const waited = await cluster.ferry(['deploy', `web@${version}`, '--env', 'lab', '--wait-lock']);
    expect(waited.stderr).toContain(`waiting: web in lab is being deployed: ${holder}`);
    expect(waited.stdout).toContain(`deploying web@${version} to lab`);
    // The host never came: both end partial, naming it, and the lock is gone.
    expect(waited.stdout).toContain('partial: not on web@');
    expect(waited.stdout).toContain('lab-away (offline; catches up when it returns)');
    expect(waited.code).toBe(1);
    expect((await cluster.api().deployment(holder)).state).toBe('partial');
    const third = await call('POST', '/deployments', cluster.server.adminToken, {
      app: 'web',
      version,
      env: 'lab',
    });
    expect(third.status).toBe(201);
    const cancelled = await cluster.ferry(['cancel', String(third.body.id)]);
    // It says what each host got: the one away got nothing.
    expect(cancelled.stdout).toBe(
      `${String(third.body.id)}: cancelled\n  did not get web@${version}: lab-away\n`,
    );
    expect((await cluster.api().deployment(String(third.body.id))).state).toBe('cancelled');
  }, 120_000);
});

describe('variables', () => {
  it('fails a deployment whose manifest uses a variable a host lacks before any host is touched', async () => {
    const files = webAppTree('needs-db');
    files['ferry.yml'] = files['ferry.yml']!.replace(
      "WEB_MARK: 'needs-db'",
      "WEB_MARK: 'needs-db', DB_URL: '${DB_URL}'",
    );
    const version = await cluster.push(files, 'needs-db');
    // The automatic deployment to qa is recorded as failed, with the reason; nothing was sent.
    const auto = await newest('qa');
    expect(auto).toMatchObject({ version, kind: 'auto-deploy', state: 'failed', installs: [] });
    expect(auto!.error).toContain('${DB_URL} (on qa-1)');
    await expect(
      access(path.join(cluster.host('qa-1').root, 'apps', 'web', 'releases', String(version))),
    ).rejects.toThrow();

    // A person's deployment is refused outright, naming the variable and the hosts.
    await cluster.ferry(['mark', `web@${version}`, 'passed'], as.qa);
    const before = (await cluster.api().deployments({ app: 'web' })).length;
    const refused = await cluster.ferry(['deploy', `web@${version}`, '--env', 'prod']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('${DB_URL} (on prod-1)');
    expect(refused.stderr).toContain('[E_VARIABLE_MISSING]');
    expect((await cluster.api().deployments({ app: 'web' })).length).toBe(before);
    const releases = await readdir(
      path.join(cluster.host('prod-1').root, 'apps', 'web', 'releases'),
    );
    expect(releases).not.toContain(String(version));
  }, 120_000);

  it('keeps a secret out of every log, record and answer, while the host gets it', async () => {
    const set = await cluster.ferry([
      'vars',
      'set',
      `API_KEY=${SECRET}`,
      '--env',
      'qa',
      '--secret',
    ]);
    expect(set.code, set.stderr).toBe(0);
    const files = webAppTree('secret');
    // A secret reaches commands through the environment, never their command
    // line (which `ps` shows): the service's env refers to it, so the install
    // commands get it too, and the shell expands it.
    files['ferry.yml'] = files['ferry.yml']!.replace(
      '      env: { ',
      "      env: { API_KEY: '${API_KEY}', ",
    ).replace(
      '    keepReleases: 5',
      '    install: [\'echo "key=$API_KEY"\', \'printf %s "$API_KEY" > key.txt\']\n    keepReleases: 5',
    );
    expect(files['ferry.yml']).toContain("API_KEY: '${API_KEY}'");
    const version = await cluster.push(files, 'secret');
    const auto = (await newest('qa'))!;
    expect(auto.version).toBe(version);
    const done = await ended(auto.id);
    expect(done.state, done.error ?? '').toBe('succeeded');

    // The host has it: the install command wrote it into the release.
    const release = path.join(
      cluster.host('qa-1').root,
      'apps',
      'web',
      'releases',
      String(version),
    );
    expect(await readFile(path.join(release, 'key.txt'), 'utf8')).toBe(SECRET);

    // Nothing anyone can read shows it.
    const logs = await cluster.ferry(['logs', auto.id, '--json']);
    expect(logs.stdout).toContain('key=••••');
    const seen = [
      logs.stdout,
      (await cluster.ferry(['logs', auto.id])).stdout,
      (await cluster.ferry(['deployment', auto.id, '--json'])).stdout,
      (await cluster.ferry(['deployments', '--json'])).stdout,
      (await cluster.ferry(['status', '--json'])).stdout,
      (await cluster.ferry(['history', 'web', '--json'])).stdout,
      (await cluster.ferry(['vars', 'list', '--json'])).stdout,
      (await cluster.ferry(['hosts', '--json'])).stdout,
      (await cluster.ferry(['bundle', 'show', `web@${version}`, '--json'])).stdout,
      cluster.server.output(),
      cluster.host('qa-1').agent!.output(),
    ];
    for (const text of seen) expect(text).not.toContain(SECRET);
  }, 120_000);
});
