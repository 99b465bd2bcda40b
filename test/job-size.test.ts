import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry, startServer, type ServerProcess } from './helpers/ferry-process.js';
import { makeTree } from './helpers/source-tree.js';
import { harnessFetch } from '../src/dev/harness-trust.js';
import { decodeJoinString } from '../src/tls/join-string.js';

let server: ServerProcess;
let env: NodeJS.ProcessEnv;

async function api(
  method: string,
  pathname: string,
  options: { token?: string; body?: unknown } = {},
): Promise<{ status: number; text: string; json: () => unknown }> {
  const response = await harnessFetch(`${server.url}/api/v1${pathname}`, {
    method,
    headers: {
      authorization: `Bearer ${options.token ?? server.adminToken}`,
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await response.text();
  return { status: response.status, text, json: () => JSON.parse(text) as unknown };
}

/** The rows of one table of the server's database, read directly. */
async function rows(table: 'installs' | 'outbox'): Promise<unknown[]> {
  const { default: SQLite } = await import('better-sqlite3');
  const db = new SQLite(path.join(server.dataDir, 'ferry.db'), { readonly: true });
  try {
    db.pragma('busy_timeout = 5000');
    return db.prepare(`select * from ${table}`).all();
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  server = await startServer();
  const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-job-size-'));
  env = {
    FERRY_SERVER: server.url,
    FERRY_TOKEN: server.adminToken,
    FERRY_CONFIG_DIR: path.join(work, 'config'),
  };
  const made = await runFerry(['tokens', 'create', '--role', 'agent'], { env });
  expect(made.code, made.stderr).toBe(0);
  const enrolled = await api('POST', '/agents/enroll', {
    token: decodeJoinString(made.stdout).token,
    body: { name: 'qa-1', env: 'qa', roles: ['web'], vars: {} },
  });
  expect(enrolled.status, enrolled.text).toBe(201);
});
afterAll(async () => {
  await server?.stop();
});

describe('a job too large for the transport', () => {
  it('fails the deployment before any host is touched, naming the largest variables', async () => {
    // 70 variables of 63 KiB: each one allowed, together more than a transport message.
    for (let i = 0; i < 70; i++) {
      const name = `BLOB_${String(i).padStart(2, '0')}`;
      const set = await api('POST', '/vars', {
        body: { name, value: String(i % 10).repeat(63 * 1024 + i), env: 'qa' },
      });
      expect(set.status, set.text).toBeLessThan(300);
    }
    // The app uses them all (a job carries only the variables its manifest uses).
    const uses = Array.from({ length: 70 }, (_, i) => {
      const name = `BLOB_${String(i).padStart(2, '0')}`;
      return `${name}: '\${${name}}'`;
    });
    const tree = await makeTree({
      'ferry.yml': [
        'apps:',
        '  shop:',
        '    role: web',
        '    service:',
        '      command: node server.js',
        `      env: { ${uses.join(', ')} }`,
        '',
      ].join('\n'),
      'server.js': 'console.log("shop");\n',
    });
    // qa deploys on push: that deployment is recorded as failed, with the reason.
    // The push exits 1 all the same: the deployment it started did not get anywhere.
    const pushed = await runFerry(['push', tree], { env });
    expect(pushed.code, pushed.stderr).toBe(1);
    expect(pushed.stdout).toMatch(/^shop@1$/m);
    expect(pushed.stderr).toContain('[E_AUTO_DEPLOY_FAILED]');
    const auto = (await api('GET', '/deployments?app=shop&env=qa').then((r) => r.json())) as {
      deployments: { state: string; error: string | null }[];
    };
    expect(auto.deployments[0]).toMatchObject({ state: 'failed' });
    expect(auto.deployments[0]!.error).toContain('vars.BLOB_69');

    const deployed = await runFerry(['deploy', 'shop@1', '--env', 'qa'], { env });
    expect(deployed.code).toBe(1);
    expect(deployed.stderr).toContain('[E_JOB_TOO_LARGE]');
    expect(deployed.stderr).toContain('qa-1');
    // The largest variables are named, largest first.
    expect(deployed.stderr).toContain('vars.BLOB_69');
    const answer = await api('POST', '/deployments', {
      body: { app: 'shop', version: 1, env: 'qa' },
    });
    expect(answer.status).toBe(413);
    expect(answer.json()).toMatchObject({ code: 'E_JOB_TOO_LARGE' });

    const install = await api('POST', '/installs', {
      body: { app: 'shop', version: 1, host: 'qa-1' },
    });
    expect(install.status).toBe(413);
    // Nothing recorded, nothing queued for the host.
    expect(await rows('installs')).toEqual([]);
    expect(await rows('outbox')).toEqual([]);
  });
});

describe('a queued deployment whose job grew too large while it waited', () => {
  let later: ServerProcess;
  let laterEnv: NodeJS.ProcessEnv;
  const call = async (method: string, pathname: string, body?: unknown) => {
    const response = await harnessFetch(`${later.url}/api/v1${pathname}`, {
      method,
      headers: {
        authorization: `Bearer ${later.adminToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, json: await response.json() };
  };
  beforeAll(async () => {
    later = await startServer();
    const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-job-size-queued-'));
    laterEnv = {
      FERRY_SERVER: later.url,
      FERRY_TOKEN: later.adminToken,
      FERRY_CONFIG_DIR: path.join(work, 'config'),
    };
    const made = await runFerry(['tokens', 'create', '--role', 'agent'], { env: laterEnv });
    expect(made.code, made.stderr).toBe(0);
    // A host with no agent: the first deployment waits for it, holding the lock.
    const response = await harnessFetch(`${later.url}/api/v1/agents/enroll`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${decodeJoinString(made.stdout).token}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ name: 'qa-1', env: 'qa', roles: ['web'], vars: {} }),
    });
    expect(response.status).toBe(201);
  });
  afterAll(async () => {
    await later?.stop();
  });

  it('fails when it starts, before any host is touched', async () => {
    const push = async (marker: string) => {
      // The service uses every BLOB_nn: a job carries only the variables its manifest uses.
      const env = Array.from({ length: 70 }, (_, i) => {
        const name = `BLOB_${String(i).padStart(2, '0')}`;
        return `${name}: '\${${name}}'`;
      }).join(', ');
      const tree = await makeTree({
        'ferry.yml': `apps:\n  shop:\n    role: web\n    service: { command: node server.js, env: { ${env} } }\n`,
        'server.js': `console.log(${JSON.stringify(marker)});\n`,
      });
      const pushed = await runFerry(['push', tree], { env: laterEnv });
      expect(pushed.code, pushed.stderr).toBe(0);
    };
    type Listing = { deployments: { id: string; version: number; state: string }[] };
    const deployments = async () =>
      ((await call('GET', '/deployments?app=shop&env=qa')).json as Listing).deployments;
    const setBlobs = async (size: (i: number) => number) => {
      for (let i = 0; i < 70; i++) {
        const set = await call('POST', '/vars', {
          name: `BLOB_${String(i).padStart(2, '0')}`,
          value: String(i % 10).repeat(size(i)),
          env: 'qa',
        });
        expect(set.status).toBeLessThan(300);
      }
    };
    await setBlobs(() => 1);
    await push('one');
    await push('two');
    const queued = (await deployments()).find((d) => d.version === 2)!;
    expect(queued.state).toBe('pending');
    // While it waits its turn, the host's variables grow past what a job carries.
    await setBlobs((i) => 63 * 1024 + i);
    const first = (await deployments()).find((d) => d.version === 1)!;
    expect((await call('POST', `/deployments/${first.id}/cancel`)).status).toBe(200);
    let ended: { state: string; error: string | null; installs: unknown[] } | undefined;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const d = (await call('GET', `/deployments/${queued.id}`)).json as typeof ended;
      if (d && !['pending', 'running'].includes(d.state)) {
        ended = d;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(ended).toMatchObject({ state: 'failed', installs: [] });
    expect(ended!.error).toContain('vars.BLOB_69');
  }, 60_000);
});
