import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxContext } from '../src/store/kysely/kysely-secret-sealing.js';
import { SecretBox } from '../src/store/secret-box.js';
import { runFerry, startServer, type ServerProcess } from './helpers/ferry-process.js';
import { makeTree } from './helpers/source-tree.js';
import { harnessFetch } from '../src/dev/harness-trust.js';
import { decodeJoinString } from '../src/tls/join-string.js';

const SECRET = 'pa55-hunter2-do-not-show';

let server: ServerProcess;
let env: NodeJS.ProcessEnv;
/** Environments for the CLI with another token. */
let as: Record<'deployer' | 'qa', NodeJS.ProcessEnv>;
let agentToken: string;

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

async function newToken(role: string): Promise<string> {
  const made = await runFerry(['tokens', 'create', '--role', role], { env });
  expect(made.code, made.stderr).toBe(0);
  // An agent's comes as a join string, the token inside.
  const printed = made.stdout.trim();
  return printed.startsWith('ferry-join-v1.') ? decodeJoinString(printed).token : printed;
}

/** Enrols a host as `ferry agent` would, without running an agent. */
async function enrol(name: string, hostEnv: string, vars: Record<string, string> = {}) {
  const enrolled = await api('POST', '/agents/enroll', {
    token: agentToken,
    body: { name, env: hostEnv, roles: ['web'], vars },
  });
  expect(enrolled.status, enrolled.text).toBe(201);
}

/** The server's secret key, from its data folder. */
async function loadKey(): Promise<Buffer> {
  const text = await readFile(path.join(server.dataDir, 'secret.key'), 'utf8');
  return Buffer.from(text.trim(), 'base64');
}

/** The rows of one table of the server's database, read directly. */
async function rows(
  table: 'installs' | 'outbox',
): Promise<{ body?: string; host_id?: string; message_id?: string }[]> {
  const { default: SQLite } = await import('better-sqlite3');
  const db = new SQLite(path.join(server.dataDir, 'ferry.db'), { readonly: true });
  try {
    db.pragma('busy_timeout = 5000');
    return db.prepare(`select * from ${table}`).all() as {
      body?: string;
      host_id?: string;
      message_id?: string;
    }[];
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  // Info level, so the test can check that set and unset are logged without values.
  server = await startServer(['--log-level', 'info']);
  const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-vars-'));
  env = {
    FERRY_SERVER: server.url,
    FERRY_TOKEN: server.adminToken,
    FERRY_CONFIG_DIR: path.join(work, 'config'),
  };
  as = {
    deployer: { ...env, FERRY_TOKEN: await newToken('deployer') },
    qa: { ...env, FERRY_TOKEN: await newToken('qa') },
  };
  agentToken = await newToken('agent');
  await enrol('qa-1', 'qa', { PORT: '8081' });
  await enrol('qa-2', 'qa');
  await enrol('prod-1', 'prod', { PORT: '8080' });
});
afterAll(async () => {
  await server?.stop();
});

describe('ferry vars set, list and unset', () => {
  it('sets a variable in each scope and lists them, narrowest last', async () => {
    for (const args of [
      ['LEVEL=info'],
      ['LEVEL=debug', '--env', 'qa'],
      ['LEVEL=warn', '--role', 'web'],
      ['LEVEL=trace', '--host', 'qa-1'],
      ['URL=http://x?a=b', '--env', 'qa'],
    ]) {
      const set = await runFerry(['vars', 'set', ...args], { env });
      expect(set.code, set.stderr).toBe(0);
    }
    const again = await runFerry(['vars', 'set', 'LEVEL=error', '--env', 'qa'], { env });
    expect(again.stdout).toBe('Replaced LEVEL for env qa\n');

    const listed = await runFerry(['vars', 'list', '--json'], { env });
    expect(listed.code).toBe(0);
    const variables = JSON.parse(listed.stdout) as { name: string; scope: string; value: string }[];
    expect(variables.map((v) => [v.name, v.scope, v.value])).toEqual([
      ['LEVEL', 'global', 'info'],
      ['LEVEL', 'env', 'error'],
      ['LEVEL', 'role', 'warn'],
      ['LEVEL', 'host', 'trace'],
      // Everything after the first `=` is the value.
      ['URL', 'env', 'http://x?a=b'],
    ]);

    const onlyQa = await runFerry(['vars', 'list', '--env', 'qa'], { env });
    expect(onlyQa.stdout).toMatch(/^NAME\s+SCOPE\s+VALUE\s+UPDATED\s+BY$/m);
    expect(onlyQa.stdout).toMatch(/^LEVEL\s+env qa\s+"error"\s.*admin$/m);
    expect(onlyQa.stdout).not.toContain('trace');
  });

  it('unsets a variable from one scope only', async () => {
    const unset = await runFerry(['vars', 'unset', 'LEVEL', '--host', 'qa-1'], { env });
    expect(unset.code, unset.stderr).toBe(0);
    expect(unset.stdout).toBe('Unset LEVEL for host qa-1\n');
    const listed = JSON.parse((await runFerry(['vars', 'list', '--json'], { env })).stdout) as {
      scope: string;
    }[];
    expect(listed.map((v) => v.scope)).not.toContain('host');

    const gone = await runFerry(['vars', 'unset', 'LEVEL', '--host', 'qa-1'], { env });
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('[E_VARIABLE_NOT_FOUND]');
    const global = await runFerry(['vars', 'unset', 'LEVEL'], { env });
    expect(global.stdout).toBe('Unset LEVEL globally\n');
  });

  it('refuses two scopes at once, and a bad assignment, with a clear error', async () => {
    const two = await runFerry(['vars', 'set', 'A=1', '--env', 'qa', '--role', 'web'], { env });
    expect(two.code).toBe(1);
    expect(two.stderr).toContain('Give at most one of --env, --role and --host');
    expect(two.stderr).toContain('[E_BAD_REQUEST]');
    // A name alone reads its value from stdin: here there is none.
    const noValue = await runFerry(['vars', 'set', 'JUST_A_NAME'], { env });
    expect(noValue.code).toBe(1);
    expect(noValue.stderr).toContain(
      'No value for JUST_A_NAME: give NAME=VALUE, or only the name with the value on stdin',
    );
    // A secret on the command line is set, with a warning that `ps` shows it.
    const inArgs = await runFerry(['vars', 'set', 'ARG_SECRET=visible', '--secret'], { env });
    expect(inArgs.code, inArgs.stderr).toBe(0);
    expect(inArgs.stderr).toContain('warning: the secret was on the command line');
    const fromStdin = await runFerry(['vars', 'set', 'STDIN_SECRET', '--secret'], {
      env,
      input: 'line one\nline two\n',
    });
    expect(fromStdin.code, fromStdin.stderr).toBe(0);
    expect(fromStdin.stderr).toBe('');
    const badName = await runFerry(['vars', 'set', '1BAD=x'], { env });
    expect(badName.stderr).toContain('Invalid variable name "1BAD"');
    const badEnv = await runFerry(['vars', 'set', 'A=1', '--env', 'staging'], { env });
    expect(badEnv.stderr).toContain('[E_ENV_NOT_FOUND]');
    // The API says the same.
    const both = await api('PUT', '/vars', {
      body: { name: 'A', value: '1', env: 'qa', host: 'qa-1' },
    });
    expect(both.status).toBe(400);
    expect(both.json()).toMatchObject({ code: 'E_BAD_REQUEST' });
  });
});

describe('secrets', () => {
  it('never shows a secret value in listings, API answers or the server log', async () => {
    const set = await runFerry(
      ['vars', 'set', `DB_PASSWORD=${SECRET}`, '--env', 'qa', '--secret'],
      {
        env,
      },
    );
    expect(set.stdout).toBe('Set DB_PASSWORD for env qa (secret)\n');
    // Set again without --secret: it stays secret.
    const put = await api('PUT', '/vars', {
      body: { name: 'DB_PASSWORD', value: SECRET, env: 'qa' },
    });
    expect(put.status).toBe(200);
    expect(put.json()).toMatchObject({
      created: false,
      variable: { name: 'DB_PASSWORD', value: null, secret: true },
    });
    const posted = await api('POST', '/vars', {
      body: { name: 'DB_PASSWORD', value: SECRET, env: 'dev', secret: true },
    });
    expect(posted.status).toBe(201);

    const table = await runFerry(['vars', 'list'], { env });
    expect(table.stdout).toMatch(/^DB_PASSWORD\s+env qa\s+•••• \(secret\)/m);
    const json = await runFerry(['vars', 'list', '--json'], { env });
    expect(JSON.parse(json.stdout)).toContainEqual(
      expect.objectContaining({ name: 'DB_PASSWORD', target: 'qa', value: null, secret: true }),
    );
    const answer = await api('GET', '/vars?env=qa');
    expect(answer.status).toBe(200);
    for (const text of [table.stdout, json.stdout, answer.text, put.text, posted.text]) {
      expect(text).not.toContain(SECRET);
    }
    expect(server.output()).toContain('variable set');
    expect(server.output()).not.toContain(SECRET);
  });
});

describe('who may change variables', () => {
  it('refuses qa and agent tokens with 403 naming the role needed', async () => {
    const qa = await runFerry(['vars', 'set', 'A=1', '--env', 'qa'], { env: as.qa });
    expect(qa.code).toBe(1);
    expect(qa.stderr).toContain('needs a token with the admin or deployer role');
    expect(qa.stderr).toContain('[E_FORBIDDEN]');
    // A qa token may read them.
    expect((await runFerry(['vars', 'list'], { env: as.qa })).code).toBe(0);
    const unset = await api('DELETE', '/vars/URL?env=qa', { token: as.qa.FERRY_TOKEN });
    expect(unset.status).toBe(403);
    expect(unset.json()).toMatchObject({ code: 'E_FORBIDDEN' });

    const agent = await api('GET', '/vars', { token: agentToken });
    expect(agent.status).toBe(403);
    expect(agent.json()).toMatchObject({ code: 'E_FORBIDDEN' });
  });

  it('lets a deployer change variables outside prod, and refuses prod, roles and global', async () => {
    const qa = await runFerry(['vars', 'set', 'FEATURE=on', '--env', 'qa'], { env: as.deployer });
    expect(qa.code, qa.stderr).toBe(0);
    const host = await runFerry(['vars', 'set', 'FEATURE=off', '--host', 'qa-2'], {
      env: as.deployer,
    });
    expect(host.code, host.stderr).toBe(0);
    for (const scope of [['--env', 'prod'], ['--host', 'prod-1'], ['--role', 'web'], []]) {
      const refused = await runFerry(['vars', 'set', 'FEATURE=on', ...scope], { env: as.deployer });
      expect(refused.code, scope.join(' ')).toBe(1);
      expect(refused.stderr).toContain('needs a token with the admin role');
      expect(refused.stderr).toContain('[E_FORBIDDEN]');
    }
    const api403 = await api('PUT', '/vars', {
      token: as.deployer.FERRY_TOKEN,
      body: { name: 'FEATURE', value: 'on', env: 'prod' },
    });
    expect(api403.status).toBe(403);
    expect(api403.json()).toMatchObject({ details: { needs: ['admin'], has: 'deployer' } });
    // The admin may.
    expect((await runFerry(['vars', 'set', 'FEATURE=on', '--env', 'prod'], { env })).code).toBe(0);
    const unsetProd = await runFerry(['vars', 'unset', 'FEATURE', '--env', 'prod'], {
      env: as.deployer,
    });
    expect(unsetProd.stderr).toContain('[E_FORBIDDEN]');
  });
});

describe('ferry install and variables', () => {
  it('fails before touching the host when a variable is missing, naming it and the host', async () => {
    const tree = await makeTree({
      'ferry.yml': [
        'apps:',
        '  shop:',
        '    role: web',
        '    install: ["./setup --level ${LEVEL}"]',
        '    service:',
        '      command: node server.js',
        '      env: { PORT: "${PORT}", DB_PASSWORD: "${DB_PASSWORD}", API_KEY: "${API_KEY}" }',
        '    health: { http: "http://127.0.0.1:${PORT}/health" }',
        '',
      ].join('\n'),
      'server.js': 'console.log("shop");\n',
    });
    const pushed = await runFerry(['push', tree], { env });
    expect(pushed.stdout, pushed.stderr).toMatch(/^shop@1$/m);

    // qa-2 has no PORT; no scope sets API_KEY.
    const refused = await runFerry(['install', 'shop@1', '--host', 'qa-2'], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('[E_VARIABLE_MISSING]');
    expect(refused.stderr).toContain('${API_KEY} (on qa-2), ${PORT} (on qa-2)');
    expect(refused.stderr).not.toContain('DB_PASSWORD');
    const answer = await api('POST', '/installs', {
      body: { app: 'shop', version: 1, host: 'qa-1' },
    });
    expect(answer.status).toBe(400);
    expect(answer.json()).toMatchObject({
      code: 'E_VARIABLE_MISSING',
      details: { variables: ['API_KEY'], missing: [{ variable: 'API_KEY', hosts: ['qa-1'] }] },
    });
    // Nothing recorded, nothing queued for any host.
    expect(await rows('installs')).toEqual([]);
    expect(await rows('outbox')).toEqual([]);
  });

  it('sends the resolved variables, and the names of the secret ones, in the job', async () => {
    expect(
      (await runFerry(['vars', 'set', 'API_KEY=k-1', '--role', 'web', '--secret'], { env })).code,
    ).toBe(0);
    expect((await runFerry(['vars', 'set', 'LEVEL=quiet', '--host', 'qa-1'], { env })).code).toBe(
      0,
    );
    const queued = await runFerry(['install', 'shop@1', '--host', 'qa-1', '--detach'], { env });
    expect(queued.code, queued.stderr).toBe(0);
    const [job] = await rows('outbox');
    // Queued jobs are sealed at rest; the server's key opens them.
    expect(job!.body).not.toContain(SECRET);
    const box = new SecretBox(await loadKey());
    const body = JSON.parse(
      box.open(job!.body!, outboxContext(job!.host_id!, job!.message_id!)),
    ) as { vars: Record<string, string>; secrets: string[] };
    // Only those the app's manifest uses: FEATURE and URL apply to the host, not to shop.
    expect(body.vars).toEqual({
      API_KEY: 'k-1',
      DB_PASSWORD: SECRET,
      LEVEL: 'quiet',
      PORT: '8081',
    });
    expect(body.secrets).toEqual(['API_KEY', 'DB_PASSWORD']);
  });
});
