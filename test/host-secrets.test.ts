import { lstat, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJoinString } from '../src/tls/join-string.js';
import { enrolledHostId, startAgent } from './helpers/agent-process.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import {
  startSupervisord,
  SUPERVISORD_SUITES_RUN,
  type TestSupervisord,
} from './helpers/supervisord.js';

/**
 * Secrets on the host, through a real server, real agents (one with the
 * builtin driver, one with a real supervisord) and a real app: while the
 * installs run, no process's arguments hold a secret; afterwards every file
 * that holds a variable is private, the service and the hooks get only the
 * variables the manifest refers to, and the step logs show no secret, even a
 * multi-line one printed line by line. A manifest that puts a secret into a
 * command line is refused at deploy time.
 */

const SECRET = 'db-pass-5c1e9f0a77';
const PEM = [
  '-----BEGIN PRIVATE KEY-----',
  'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj',
  'MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu',
  '-----END PRIVATE KEY-----',
].join('\n');
/** Another app's secret, in scope for the hosts but referenced by no manifest here. */
const OTHER = 'other-app-secret-9e41b2';
/** A plain variable: not secret, but a file holding it is still private. */
const PLAIN = 'plain-value-3a8b61';
const SECRET_TEXTS = [SECRET, OTHER, ...PEM.split('\n').filter((line) => line.length >= 8)];
const VARIABLE_TEXTS = [...SECRET_TEXTS, PLAIN];

/** What the service, the hooks and the health command are given, beyond what a shell adds. */
const BASE = [
  'FERRY_APP',
  'FERRY_RELEASE_DIR',
  'FERRY_VERSION',
  'HOME',
  'LANG',
  'PATH',
  'PYTHONUNBUFFERED',
];
const REFERENCED = ['DB_PASSWORD', 'GREETING', 'PORT', 'TLS_KEY'];

const HOOK = `
const stage = process.argv[2];
const names = Object.keys(process.env).filter((n) => n !== 'PWD').sort();
console.log(stage + ' env: ' + names.join(' '));
if (stage === 'install') {
  console.log('password=' + process.env.DB_PASSWORD);
  for (const line of process.env.TLS_KEY.split('\\n')) console.log(line);
  process.stderr.write(process.env.DB_PASSWORD.slice(0, 6));
  setTimeout(() => process.stderr.write(process.env.DB_PASSWORD.slice(6) + '\\n'), 150);
}
// Long enough for the test to see this hook among the processes.
if (stage === 'before-start') setTimeout(() => {}, 1500);
if (stage === 'health') {
  fetch('http://127.0.0.1:' + process.env.PORT + '/health').then(
    (r) => process.exit(r.ok ? 0 : 1),
    () => process.exit(1),
  );
}
`;

const SERVER = `
import http from 'node:http';
// As apps do: its settings in its own log, which is then as private as they are.
console.log('greeting: ' + process.env.GREETING);
http
  .createServer((request, response) => {
    const env = Object.keys(process.env).filter((n) => n !== 'PWD').sort();
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ ok: true, env }));
  })
  .listen(Number(process.env.APP_PORT), '127.0.0.1');
`;

const MANIFEST = `apps:
  vault:
    role: web
    install: ["node hook.js install"]
    hooks:
      beforeStart: ["node hook.js before-start"]
      afterStart: ["node hook.js after-start"]
    service:
      command: node server.mjs
      env: { APP_PORT: "\${PORT}", DB_PASSWORD: "\${DB_PASSWORD}", TLS_KEY: "\${TLS_KEY}", GREETING: "\${GREETING}" }
      stopTimeout: 5s
    health: { command: "node hook.js health", timeout: 20s, interval: 200ms }
`;

let cluster: Cluster;
let supervisor: TestSupervisord | undefined;

/** Every process's arguments (`/proc/<pid>/cmdline`) but this one's, as text. */
async function processArguments(): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const args = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (args !== '') out.push(args.replaceAll('\0', ' '));
  }
  return out;
}

/** Watches every process's arguments until stopped: those holding a secret, and all it saw. */
function watchProcesses() {
  const leaks = new Set<string>();
  const seen = new Set<string>();
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const args of await processArguments()) {
        seen.add(args);
        if (SECRET_TEXTS.some((secret) => args.includes(secret))) leaks.add(args);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { leaks: [...leaks], seen: [...seen] };
    },
  };
}

/** Every regular file under `dir`, recursively (links are not followed). */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(full)));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

describe.skipIf(!SUPERVISORD_SUITES_RUN)('secrets on the host', () => {
  beforeAll(async () => {
    cluster = await Cluster.start({
      agentArgs: ({ name }) =>
        name === 'dev-sv'
          ? [
              '--driver',
              'supervisord',
              '--supervisord-config',
              supervisor!.config,
              '--supervisord-include',
              supervisor!.include,
            ]
          : [],
    });
    supervisor = await startSupervisord(path.join(cluster.work, 'supervisor'));

    for (const name of ['dev-builtin', 'dev-sv']) await cluster.addHost(name, 'dev');
    // Secrets on stdin, never in arguments: another test on this machine that
    // watches every process would see them there (and so would `ps`).
    for (const [args, input] of [
      [['vars', 'set', 'DB_PASSWORD', '--env', 'dev', '--secret'], SECRET],
      [['vars', 'set', 'TLS_KEY', '--env', 'dev', '--secret'], `${PEM}\n`],
      [['vars', 'set', 'OTHER_APP_SECRET', '--secret'], OTHER],
      [['vars', 'set', `GREETING=${PLAIN}`, '--env', 'dev'], undefined],
    ] as const) {
      const set = await cluster.ferry([...args], {}, { input });
      expect(set.code, set.stderr).toBe(0);
      expect(set.stderr).not.toContain('warning');
    }
  }, 120_000);

  afterAll(async () => {
    await supervisor?.stop();
    await cluster?.close();
  });

  it('installs with no secret in any process, in private files, with only the variables used', async () => {
    const version = await cluster.push(
      { 'ferry.yml': MANIFEST, 'hook.js': HOOK, 'server.mjs': SERVER },
      'vault-1',
    );
    const installs: string[] = [];
    const watch = watchProcesses();
    for (const host of ['dev-builtin', 'dev-sv']) {
      const installed = await cluster.ferry(['install', `vault@${version}`, '--host', host]);
      expect(installed.code, `${installed.stdout}${installed.stderr}`).toBe(0);
      installs.push(/install (ins_[0-9a-f]+)/.exec(installed.stdout)![1]!);
    }
    const { leaks, seen } = await watch.stop();
    expect(leaks).toEqual([]);
    // The watch saw the hooks, the services and supervisord's program running.
    expect(seen.filter((args) => args.includes('hook.js before-start')).length).toBeGreaterThan(0);
    expect(seen.filter((args) => args.includes('server.mjs')).length).toBeGreaterThan(0);
    expect(seen.some((args) => args.includes('supervisord'))).toBe(true);

    // Only the variables the manifest uses, plus the base; no other app's secret.
    const commandEnv = [...BASE, ...REFERENCED].sort();
    const serviceEnv = [...commandEnv, 'APP_PORT'].sort();
    for (const host of ['dev-builtin', 'dev-sv']) {
      const answer = await fetch(`http://127.0.0.1:${cluster.host(host).port}/health`);
      const { env } = (await answer.json()) as { env: string[] };
      expect(env.filter((n) => n !== 'SHLVL' && n !== '_')).toEqual(serviceEnv);
    }

    // The step logs show no secret, however it was printed.
    for (const id of installs) {
      const logs = await cluster.ferry(['logs', id]);
      expect(logs.code, logs.stderr).toBe(0);
      for (const secret of SECRET_TEXTS) expect(logs.stdout).not.toContain(secret);
      expect(logs.stdout).toContain('password=••••');
      for (const stage of ['install', 'before-start', 'after-start']) {
        const line = new RegExp(`^${stage} env: (.*)$`, 'm').exec(logs.stdout)?.[1];
        expect(
          line
            ?.split(' ')
            .filter((n) => n !== 'SHLVL' && n !== '_')
            .join(' '),
          stage,
        ).toBe(commandEnv.join(' '));
      }
    }

    // The facts each agent reports after an install name the release's variables,
    // with a plain one's value and never a secret's, under either driver.
    for (const host of ['dev-builtin', 'dev-sv']) {
      const facts = await waitFor(`the facts of ${host} after its install`, async () => {
        const { facts } = await cluster.api().hostFacts(host);
        return facts?.apps.vault?.config?.installId ? facts : undefined;
      });
      expect(facts.apps.vault?.config?.vars).toEqual([
        { name: 'DB_PASSWORD', value: null, secret: true },
        { name: 'GREETING', value: PLAIN, secret: false },
        { name: 'PORT', value: String(cluster.host(host).port), secret: false },
        { name: 'TLS_KEY', value: null, secret: true },
      ]);
      expect(facts.apps.vault?.service).toMatchObject({ running: true });
      expect(facts.apps.vault?.service?.pid).toBeGreaterThan(0);
      for (const args of [
        ['hosts', 'show', host, '--history'],
        ['hosts', '--json'],
      ]) {
        const shown = await cluster.ferry(args);
        expect(shown.code, shown.stderr).toBe(0);
        for (const secret of SECRET_TEXTS) expect(shown.stdout).not.toContain(secret);
      }
    }

    // Every file the agents and the drivers wrote that holds a variable is the owner's alone.
    const files = [
      ...(await filesUnder(cluster.host('dev-builtin').root)),
      ...(await filesUnder(cluster.host('dev-sv').root)),
      ...(await filesUnder(supervisor!.include)),
    ];
    const holding: string[] = [];
    const readable: string[] = [];
    for (const file of files) {
      const text = await readFile(file, 'utf8');
      if (!VARIABLE_TEXTS.some((value) => text.includes(value))) continue;
      holding.push(path.relative(cluster.work, file));
      const mode = (await lstat(file)).mode & 0o777;
      if ((mode & 0o077) !== 0) readable.push(`${file} (mode ${mode.toString(8)})`);
    }
    expect(readable).toEqual([]);
    // Not vacuous: the builtin driver's record, supervisord's environment file, the health
    // check, and the service's own output under each driver.
    expect(holding).toEqual(
      expect.arrayContaining([
        'hosts/dev-builtin/agent/services/vault.json',
        'hosts/dev-sv/agent/env/ferry-vault.env',
        'hosts/dev-builtin/agent/apps/vault.health.json',
        `hosts/dev-builtin/apps/vault/logs/${version}/service.stdout.log`,
        `hosts/dev-sv/apps/vault/logs/${version}/service.stdout.log`,
      ]),
    );
    const section = await readFile(path.join(supervisor!.include, 'ferry-vault.conf'), 'utf8');
    for (const value of VARIABLE_TEXTS) expect(section).not.toContain(value);
  }, 180_000);

  it('refuses at deploy time a manifest that puts a secret into a command line', async () => {
    const version = await cluster.push(
      {
        'ferry.yml': [
          'apps:',
          '  leaky:',
          '    role: web',
          '    install: ["./setup --password ${DB_PASSWORD}"]',
          '    service: { command: "node server.mjs", env: { APP_PORT: "${PORT}" } }',
          '',
        ].join('\n'),
        'server.mjs': SERVER,
      },
      'leaky-1',
    );
    const refused = await cluster.ferry(['deploy', `leaky@${version}`, '--env', 'dev']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('[E_SECRET_IN_COMMAND]');
    expect(refused.stderr).toContain('${DB_PASSWORD} in install[0]');
    expect(refused.stderr).toContain('service.env');
    expect(refused.stderr).not.toContain(SECRET);
    const byHand = await cluster.ferry(['install', `leaky@${version}`, '--host', 'dev-builtin']);
    expect(byHand.code).toBe(1);
    expect(byHand.stderr).toContain('[E_SECRET_IN_COMMAND]');
  }, 60_000);

  it("enrols an agent with --join-file, the token in no process's arguments", async () => {
    // What `ferry tokens create --role agent` prints: a join string, the token inside
    // (a bare token would leave the agent nothing to pin the server's CA with).
    const made = await cluster.ferry(['tokens', 'create', '--role', 'agent', '--env', 'dev']);
    expect(made.code, made.stderr).toBe(0);
    const join = made.stdout.trim();
    const { token } = decodeJoinString(join);
    const file = path.join(cluster.work, 'enrol-join');
    await writeFile(file, `${join}\n`, { mode: 0o600 });
    const root = path.join(cluster.work, 'hosts', 'dev-file');
    const agent = await startAgent({
      admin: cluster.server,
      env: 'dev',
      roles: ['web'],
      root,
      name: 'dev-file',
      args: ['--join-file', file],
    });
    try {
      expect(await enrolledHostId(root)).toMatch(/^host_/);
      expect((await processArguments()).filter((args) => args.includes(token))).toEqual([]);
      expect(agent.output()).not.toContain(token);
      expect(agent.output()).not.toContain(join);
    } finally {
      await agent.stop();
    }
  }, 60_000);
});
