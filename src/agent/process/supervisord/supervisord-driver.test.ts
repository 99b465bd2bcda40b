import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startSupervisord,
  SUPERVISORCTL,
  SUPERVISORD_SUITES_RUN,
  type TestSupervisord,
} from '../../../../test/helpers/supervisord.js';
import { mergedOutput } from '../merged-output.js';
import type { ServiceSpec } from '../process-driver.js';
import { programSection } from './program-section.js';
import { SupervisordDriver } from './supervisord-driver.js';

// In CI a missing supervisord fails the suite instead of skipping it.
const describeWithSupervisord = SUPERVISORD_SUITES_RUN ? describe : describe.skip;

const NODE = process.execPath;
const PATH = `${path.dirname(NODE)}:/usr/bin:/bin`;
const ODD = `a b"c'd$e;%f\\g #h ;i %(here)s`;
const ENV_FILE = '/srv/env/ferry-cart.env';

describe('programSection', () => {
  it('writes one program with separate logs, the stop signal and its timeout', () => {
    const section = programSection(
      spec('/srv', 'cart', 'node server.js', { stopTimeoutMs: 1500 }),
      '/srv/env/ferry-cart.env',
    );
    expect(section).toContain('[program:ferry-cart]\n');
    expect(section).toContain('stopsignal=TERM\n');
    expect(section).toContain('stopwaitsecs=2\n');
    expect(section).toContain('redirect_stderr=false\n');
    expect(section).toContain('autorestart=true\n');
    expect(section).toContain('stdout_logfile=/srv/logs/cart.stdout.log\n');
    expect(section).toContain('stderr_logfile=/srv/logs/cart.stderr.log\n');
  });

  it('refuses what an ini line cannot hold', () => {
    expect(() => programSection(spec('/srv', 'cart', 'echo a\necho b'), ENV_FILE)).toThrow(
      expect.objectContaining({ code: 'E_SERVICE_INVALID' }),
    );
    expect(() => programSection(spec('/srv ;x', 'cart', 'true'), ENV_FILE)).toThrow(
      expect.objectContaining({ code: 'E_SERVICE_INVALID' }),
    );
  });
});

describeWithSupervisord('SupervisordDriver against a real supervisord', () => {
  let root: string;
  let supervisor: TestSupervisord | undefined;
  let configFile: string;
  let includeDir: string;
  let driver: SupervisordDriver;

  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'ferry-sv-'));
    supervisor = await startSupervisord(root);
    ({ config: configFile, include: includeDir } = supervisor);
    driver = new SupervisordDriver({ configFile, includeDir, supervisorctl: SUPERVISORCTL });
  });

  afterAll(async () => {
    await supervisor?.stop();
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
  });

  it('starts a service with exactly its environment and separate stdout and stderr files', async () => {
    const service = spec(
      root,
      'web',
      node(`console.log(JSON.stringify(process.env)); console.error('to stderr'); ${IDLE}`),
      { env: { PATH, ODD, EMPTY: '' } },
    );
    await driver.start(service);
    const status = await driver.status('web');
    expect(status.running).toBe(true);
    expect(readFileSync(`/proc/${status.pid}/cmdline`, 'utf8')).toContain(NODE);

    const stdout = await waitForText(service.stdoutFile, '}');
    // /bin/sh exports PWD; nothing comes from supervisord's own environment.
    expect(JSON.parse(stdout)).toEqual({ ...service.env, PWD: root });
    expect(await waitForText(service.stderrFile, 'to stderr')).toBe('to stderr\n');
    expect(stdout).not.toContain('to stderr');
    expect(existsSync(path.join(includeDir, 'ferry-web.conf'))).toBe(true);

    await driver.start(service); // same spec: left alone
    expect(await driver.status('web')).toEqual(status);

    await driver.restart(service);
    const restarted = await driver.status('web');
    expect(restarted.running).toBe(true);
    expect(restarted.pid).not.toBe(status.pid);

    await driver.restart({ ...service, env: { PATH, ODD: 'changed' } });
    const changed = await driver.status('web');
    expect(changed.pid).not.toBe(restarted.pid);
    await waitUntil(() => readFileSync(service.stdoutFile, 'utf8').includes('"changed"'));

    // supervisord itself restarts it when it dies.
    process.kill(changed.pid!, 'SIGKILL');
    await waitUntil(async () => {
      const now = await driver.status('web');
      return now.running && now.pid !== changed.pid;
    });

    await driver.stop('web');
    expect(await driver.status('web')).toEqual({ running: false, pid: null });
    expect(existsSync(path.join(includeDir, 'ferry-web.conf'))).toBe(false);
  });

  it("keeps the environment out of the section and every process's arguments, in a 0600 file", async () => {
    const secret = 'sv-secret-3f9a1c';
    const service = spec(
      root,
      'private',
      node(`console.log(JSON.stringify(process.env)); ${IDLE}`),
      { env: { PATH, SECRET: secret, PEM: `-----BEGIN-----\n${secret}\n-----END-----` } },
    );
    const envDir = path.join(root, 'agent-env');
    const privateDriver = new SupervisordDriver({
      configFile,
      includeDir,
      envDir,
      supervisorctl: SUPERVISORCTL,
    });
    await privateDriver.start(service);
    const stdout = await waitForText(service.stdoutFile, '}');
    expect(JSON.parse(stdout)).toEqual({ ...service.env, PWD: root });

    const section = readFileSync(path.join(includeDir, 'ferry-private.conf'), 'utf8');
    expect(section).not.toContain(secret);
    const envFile = path.join(envDir, 'ferry-private.env');
    expect(readFileSync(envFile, 'utf8')).toContain(secret);
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    expect(statSync(envDir).mode & 0o777).toBe(0o700);
    expect(processesShowing(secret)).toEqual([]);

    // A new environment alone restarts the program with it, on start as on restart.
    await privateDriver.start({ ...service, env: { PATH, SECRET: 'second' } });
    await waitUntil(() => readFileSync(service.stdoutFile, 'utf8').includes('"second"'));

    await privateDriver.stop('private');
    expect(existsSync(envFile)).toBe(false);
  });

  it('stops with the stop signal, then kills the group after the stop timeout', async () => {
    const service = spec(
      root,
      'stubborn',
      `trap 'echo got-term >&2' TERM; echo up; while :; do sleep 0.1; done`,
      { stopTimeoutMs: 1_000 },
    );
    await driver.start(service);
    await waitForText(service.stdoutFile, 'up');
    const began = Date.now();
    await driver.stop('stubborn');
    expect(Date.now() - began).toBeGreaterThanOrEqual(1_000);
    expect(readFileSync(service.stderrFile, 'utf8')).toContain('got-term');
    expect(await driver.status('stubborn')).toEqual({ running: false, pid: null });
    await driver.stop('stubborn'); // twice is fine
    await driver.stop('never-started');
  });

  it('gives its programs separate outputs, and a program changed to redirect_stderr=true is seen merged', async () => {
    const service = spec(root, 'merged', node(IDLE), { env: { PATH } });
    await driver.start(service);
    const apart = await driver.status('merged');
    expect(await mergedOutput(apart.pid!)).toBe(false);

    // Someone edits the program as a hand-written one would be, and has supervisord load it.
    const file = path.join(includeDir, 'ferry-merged.conf');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace('redirect_stderr=false', 'redirect_stderr=true'),
    );
    execFileSync(SUPERVISORCTL, ['-c', configFile, 'update', 'ferry-merged']);
    await waitUntil(async () => {
      const now = await driver.status('merged');
      return now.running && now.pid !== apart.pid;
    });
    expect(await mergedOutput((await driver.status('merged')).pid!)).toBe(true);
    await driver.stop('merged');
  });

  it('reports a service that cannot start, and supervisorctl failures, with coded errors', async () => {
    await expect(
      driver.start(spec(root, 'nowhere', 'true', { cwd: path.join(root, 'missing') })),
    ).rejects.toMatchObject({ code: 'E_SERVICE_START_FAILED' });

    const uncovered = new SupervisordDriver({
      configFile,
      includeDir: path.join(root, 'elsewhere'),
      supervisorctl: SUPERVISORCTL,
    });
    await expect(uncovered.start(spec(root, 'lost', 'sleep 5'))).rejects.toMatchObject({
      code: 'E_PROCESS_DRIVER_FAILED',
      message: expect.stringContaining('[include]'),
    });

    const noServer = new SupervisordDriver({
      configFile: path.join(root, 'missing.conf'),
      includeDir,
      supervisorctl: SUPERVISORCTL,
    });
    await expect(noServer.status('web')).rejects.toMatchObject({
      code: 'E_PROCESS_DRIVER_FAILED',
      details: expect.objectContaining({ exitCode: expect.any(Number) }),
    });
  });
});

const IDLE = 'setInterval(() => {}, 1000)';

/** The processes of this machine whose arguments (`/proc/<pid>/cmdline`) hold `text`. */
function processesShowing(text: string): string[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry) && Number(entry) !== process.pid)
    .flatMap((pid) => {
      try {
        const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        return args.includes(text) ? [`${pid}: ${args.replaceAll('\0', ' ')}`] : [];
      } catch {
        return []; // gone meanwhile
      }
    });
}

function node(script: string): string {
  return `exec ${NODE} -e '${script.replaceAll("'", `'\\''`)}'`;
}

function spec(
  root: string,
  name: string,
  command: string,
  extra: Partial<ServiceSpec> = {},
): ServiceSpec {
  return {
    name,
    cwd: root,
    command,
    env: { PATH },
    stdoutFile: path.join(root, 'logs', `${name}.stdout.log`),
    stderrFile: path.join(root, 'logs', `${name}.stderr.log`),
    stopSignal: 'SIGTERM',
    stopTimeoutMs: 5_000,
    ...extra,
  };
}

async function waitForText(file: string, text: string): Promise<string> {
  let content = '';
  await waitUntil(() => {
    content = existsSync(file) ? readFileSync(file, 'utf8') : '';
    return content.includes(text);
  });
  return content;
}

async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
