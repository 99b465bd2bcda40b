import { cp, lstat, mkdtemp, readFile, readlink, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, startAgent } from './helpers/agent-process.js';
import { killServices, reservePort } from './helpers/cluster.js';
import { runFerry, startServer, type ServerProcess } from './helpers/ferry-process.js';
import { harnessFetch } from '../src/dev/harness-trust.js';
import { decodeJoinString } from '../src/tls/join-string.js';

const EXAMPLE = fileURLToPath(new URL('../examples/hello', import.meta.url));

let server: ServerProcess;
let work: string;
let env: NodeJS.ProcessEnv;
const agents: AgentProcess[] = [];
const hosts = [
  { name: 'qa-1', port: 0 },
  { name: 'qa-2', port: 0 },
];

async function health(port: number): Promise<{ ok: boolean; version: string }> {
  const response = await harnessFetch(`http://127.0.0.1:${port}/health`);
  return (await response.json()) as { ok: boolean; version: string };
}

const rootOf = (host: string) => path.join(work, host);
/** Stops the agent of qa-1 and starts it again, with no token: it has its identity. */
async function restartFirstAgent(): Promise<AgentProcess> {
  await agents[0]!.stop();
  return startAgent({
    admin: server,
    env: 'dev',
    roles: ['hello'],
    root: rootOf('qa-1'),
    name: 'qa-1',
  });
}

/** The install id of hello@1 on each host. */
const firstInstall = new Map<string, string>();

beforeAll(async () => {
  server = await startServer();
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-agents-'));
  env = {
    FERRY_SERVER: server.url,
    FERRY_TOKEN: server.adminToken,
    FERRY_CONFIG_DIR: path.join(work, 'config'),
  };
  // The hosts are in dev, where nothing is deployed on push: these tests drive single installs.
  const enrol = await runFerry(['tokens', 'create', '--role', 'agent', '--env', 'dev'], { env });
  expect(enrol.code).toBe(0);
  const enrolToken = enrol.stdout.trim();
  for (const host of hosts) {
    host.port = await reservePort();
    agents.push(
      // The enrolment token in the environment: in the arguments, `ps` would show it.
      await startAgent({
        admin: server,
        token: enrolToken,
        env: 'dev',
        roles: ['hello'],
        root: rootOf(host.name),
        name: host.name,
        vars: { PORT: String(host.port) },
      }),
    );
  }
}, 120_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  // Then stop the services the agents started (they outlive their agent by design).
  for (const host of hosts) await killServices(rootOf(host.name));
  await server?.stop();
});

describe('agents install a release, run it, check it, and roll back a broken one', () => {
  it('lists both hosts as connected, with facts', async () => {
    const result = await runFerry(['hosts', '--json'], { env });
    const listed = JSON.parse(result.stdout) as {
      name: string;
      connected: boolean;
      facts: { runtimes?: { node?: string } } | null;
    }[];
    expect(listed.map((h) => h.name).sort()).toEqual(['qa-1', 'qa-2']);
    expect(listed.every((h) => h.connected)).toBe(true);
  });

  it('installs the example app on both hosts', async () => {
    const pushed = await runFerry(['push', EXAMPLE, '--label', '1.0.0'], { env });
    expect(pushed.stdout).toMatch(/^hello@1$/m);
    for (const host of hosts) {
      const install = await runFerry(['install', 'hello@1', '--host', host.name], { env });
      expect(install.stdout, install.stderr).toContain(`succeeded: ${host.name} runs hello@1`);
      firstInstall.set(host.name, /^install (ins_\w+)/m.exec(install.stdout)![1]!);
      expect(install.code).toBe(0);
      for (const step of ['fetch', 'verify', 'unpack', 'install', 'switch', 'start', 'health']) {
        expect(install.stdout).toMatch(new RegExp(`^  ${step} ok`, 'm'));
      }

      const appDir = path.join(rootOf(host.name), 'apps', 'hello');
      expect(await readlink(path.join(appDir, 'current'))).toBe('releases/1');
      const release = await readdir(path.join(appDir, 'releases', '1'));
      expect(release).toEqual(
        expect.arrayContaining(['ferry-bundle.json', 'server.js', 'package.json', 'node_modules']),
      );
      // `logs/` is shared across releases: a link into <app>/shared.
      expect((await lstat(path.join(appDir, 'releases', '1', 'logs'))).isSymbolicLink()).toBe(true);

      expect(await health(host.port)).toMatchObject({ ok: true, version: '1' });
      const stdout = await readFile(path.join(appDir, 'logs', '1', 'service.stdout.log'), 'utf8');
      const stderr = await readFile(path.join(appDir, 'logs', '1', 'service.stderr.log'), 'utf8');
      expect(stdout).toContain(`listening on 127.0.0.1:${host.port}`);
      expect(stdout).not.toContain('starting');
      expect(stderr).toContain('hello 1 starting');
      expect(stderr).not.toContain('listening');
    }
  }, 120_000);

  it('puts each host back on the first version when the second fails its health check', async () => {
    const broken = path.join(work, 'broken');
    await cp(EXAMPLE, broken, { recursive: true });
    const manifest = await readFile(path.join(broken, 'ferry.yml'), 'utf8');
    await writeFile(
      path.join(broken, 'ferry.yml'),
      manifest.replace(/timeout: \d+s/, 'timeout: 3s'),
    );
    // v2 also renames its entry point: going back must start v1 with v1's own command.
    const code = await readFile(path.join(broken, 'server.js'), 'utf8');
    await writeFile(path.join(broken, 'main.js'), code.replace("'/health'", "'/moved'"));
    await rm(path.join(broken, 'server.js'));
    const v2manifest = await readFile(path.join(broken, 'ferry.yml'), 'utf8');
    expect(v2manifest).toContain('command: node server.js');
    await writeFile(
      path.join(broken, 'ferry.yml'),
      v2manifest.replace('command: node server.js', 'command: node main.js'),
    );
    const pushed = await runFerry(['push', broken, '--label', '2.0.0-broken'], { env });
    expect(pushed.stdout).toMatch(/^hello@2$/m);

    for (const host of hosts) {
      const install = await runFerry(['install', 'hello@2', '--host', host.name], { env });
      expect(install.code).toBe(1);
      expect(install.stdout).toContain('health FAILED');
      expect(install.stdout).toContain('(rolled back to the previous release)');
      const id = /^install (ins_\w+)/m.exec(install.stdout)![1]!;

      const appDir = path.join(rootOf(host.name), 'apps', 'hello');
      expect(await readlink(path.join(appDir, 'current'))).toBe('releases/1');
      expect(await health(host.port)).toMatchObject({ ok: true, version: '1' });

      // The server keeps the failure and every step's output.
      const record = await harnessFetch(`${server.url}/api/v1/installs/${id}`, {
        headers: { authorization: `Bearer ${server.adminToken}` },
      }).then(
        (r) =>
          r.json() as Promise<{
            state: string;
            rolledBack: boolean;
            error: string;
            steps: { step: string; state: string }[];
          }>,
      );
      expect(record).toMatchObject({ state: 'failed', rolledBack: true });
      expect(record.error).toContain('health check failed');
      expect(record.steps.find((s) => s.step === 'health')).toMatchObject({ state: 'failed' });
      expect(record.steps.find((s) => s.step === 'health-previous')).toMatchObject({
        state: 'succeeded',
      });

      const logs = await runFerry(['logs', id], { env });
      // Each step's heading says how it ended: state, exit code (of a command) and duration.
      // hello@2 has hello@1's package-lock.json: its node_modules is a copy, with no npm ci.
      expect(logs.stdout).toMatch(
        /== install: succeeded, [\d.]+ m?s\n-- stdout\nreused node_modules from releases\/1: package-lock.json unchanged\n/,
      );
      expect(logs.stdout).toMatch(
        /== health: failed, [\d.]+ m?s\n(.|\n)*-- stderr\nhealth check failed/,
      );
      expect(logs.stdout).toContain('current -> releases/1');
    }
  }, 120_000);
});

describe('enrolment refusals', () => {
  it('refuses an unknown environment, a taken name, and a token of the wrong role', async () => {
    const unknown = await runFerry(['tokens', 'create', '--role', 'agent', '--env', 'staging'], {
      env,
    });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('[E_ENV_NOT_FOUND]');
    expect(unknown.stderr).toContain('dev, qa, prod');

    // The token in the join string that `ferry tokens create --role agent` prints.
    const enrol = decodeJoinString(
      (await runFerry(['tokens', 'create', '--role', 'agent', '--env', 'qa'], { env })).stdout,
    ).token;
    const call = (token: string, body: object) =>
      harnessFetch(`${server.url}/api/v1/agents/enroll`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const taken = await call(enrol, { name: 'qa-1', env: 'qa', roles: ['hello'] });
    expect(taken.status).toBe(409);
    expect(await taken.json()).toMatchObject({ code: 'E_HOST_EXISTS' });

    const otherEnv = await call(enrol, { name: 'prod-9', env: 'prod', roles: ['hello'] });
    expect(otherEnv.status).toBe(403);
    expect(await otherEnv.json()).toMatchObject({ code: 'E_FORBIDDEN' });

    const wrongRole = await call(server.adminToken, { name: 'x-1', env: 'qa', roles: ['hello'] });
    expect(wrongRole.status).toBe(403);
    expect(await wrongRole.json()).toMatchObject({ code: 'E_FORBIDDEN' });
  });

  it('lets an agent token download bundles and nothing else', async () => {
    const identity = JSON.parse(
      await readFile(path.join(rootOf('qa-2'), 'agent', 'identity.json'), 'utf8'),
    ) as {
      token: string;
    };
    const call = (pathname: string) =>
      harnessFetch(`${server.url}/api/v1${pathname}`, {
        headers: { authorization: `Bearer ${identity.token}` },
      });
    expect((await call('/apps/hello/bundles/1/download')).status).toBe(200);
    for (const pathname of ['/apps', '/hosts', '/tokens', '/installs/x']) {
      const refused = await call(pathname);
      expect(refused.status, pathname).toBe(403);
      expect(await refused.json()).toMatchObject({ code: 'E_FORBIDDEN' });
    }
  });

  it('starts again as the same host without a token, from the identity under its root', async () => {
    const identity = JSON.parse(
      await readFile(path.join(rootOf('qa-1'), 'agent', 'identity.json'), 'utf8'),
    ) as {
      hostId: string;
    };
    const { stat } = await import('node:fs/promises');
    expect((await stat(path.join(rootOf('qa-1'), 'agent', 'identity.json'))).mode & 0o777).toBe(
      0o600,
    );
    agents[0] = await restartFirstAgent();
    expect(agents[0].output()).toContain('identity found');
    expect(agents[0].output()).toContain(identity.hostId);
    // Its service kept running through the agent's restart, and was not started twice.
    expect(await health(hosts[0]!.port)).toMatchObject({ ok: true, version: '1' });
  });
});

describe('at-least-once delivery', () => {
  it('re-reports the result of a job delivered again, without running it twice', async () => {
    const installId = firstInstall.get('qa-1')!;
    const bundle = (await harnessFetch(`${server.url}/api/v1/apps/hello/bundles/1`, {
      headers: { authorization: `Bearer ${server.adminToken}` },
    }).then((r) => r.json())) as {
      sha256: string;
      size: number;
      manifest: Record<string, unknown>;
    };
    const servicePid = async () =>
      (
        JSON.parse(
          await readFile(path.join(rootOf('qa-1'), 'agent', 'services', 'hello.json'), 'utf8'),
        ) as { pid: number }
      ).pid;
    const pidBefore = await servicePid();
    const { default: SQLite } = await import('better-sqlite3');
    // Fault injection: the server's outbox holds the finished job once more, as if
    // its acknowledgement had been lost.
    const db = new SQLite(path.join(server.dataDir, 'ferry.db'));
    db.pragma('busy_timeout = 5000');
    const hostId = (db.prepare('select id from hosts where name = ?').get('qa-1') as { id: string })
      .id;
    const job = {
      v: 1,
      id: installId,
      type: 'install',
      installId,
      app: 'hello',
      version: 1,
      sha256: bundle.sha256,
      size: bundle.size,
      manifest: bundle.manifest,
      vars: { PORT: String(hosts[0]!.port) },
    };
    db.prepare(
      'insert into outbox (host_id, message_id, body, created_at) values (?, ?, ?, ?)',
    ).run(hostId, installId, JSON.stringify(job), new Date().toISOString());
    db.close();

    // The outbox is delivered when the agent connects.
    agents[0] = await restartFirstAgent();
    const deadline = Date.now() + 15_000;
    while (!agents[0].output().includes('job seen before') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(agents[0].output()).toContain('job seen before: reporting its result again');
    expect(agents[0].output()).not.toContain('install started');
    // The same service process: nothing was installed or restarted.
    expect(await servicePid()).toBe(pidBefore);
    expect(await health(hosts[0]!.port)).toMatchObject({ ok: true, version: '1' });
    const record = (await harnessFetch(`${server.url}/api/v1/installs/${installId}`, {
      headers: { authorization: `Bearer ${server.adminToken}` },
    }).then((r) => r.json())) as { state: string };
    expect(record.state).toBe('succeeded');
  }, 60_000);
});
