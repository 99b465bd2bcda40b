import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BuiltinDriver } from '../src/agent/process/builtin/builtin-driver.js';
import { groupMembers, readProcStat } from '../src/agent/process/builtin/proc-stat.js';
import type { ProcessDriver, ServiceSpec } from '../src/agent/process/process-driver.js';
import { SupervisordDriver } from '../src/agent/process/supervisord/supervisord-driver.js';
import { SystemdDriver } from '../src/agent/process/systemd/systemd-driver.js';
import { releasePort, reservePort, waitFor } from './helpers/cluster.js';
import {
  startSupervisord,
  SUPERVISORCTL,
  SUPERVISORD_SUITES_RUN,
  type TestSupervisord,
} from './helpers/supervisord.js';

/**
 * One contract for every ProcessDriver, run against real processes: the
 * builtin driver and a real supervisord. Each starts a real HTTP service and
 * the suite checks what a host would see: it answers its health check with
 * exactly its environment, a restart is a new process, a stop leaves nothing
 * running (also when the service ignores SIGTERM), and no secret is in any
 * process's arguments.
 *
 * systemd cannot run here (no systemd as PID 1): its part of the contract is
 * checked on what it hands systemd — the unit, the environment file and the
 * `systemctl` command lines, recorded by a stand-in `systemctl`.
 */

const NODE = process.execPath;
const PATH = `${path.dirname(NODE)}:/usr/bin:/bin`;
const SECRET = 'contract-secret-7d41e2';
/** The service every case runs: answers /health with its pid and /env with its environment. */
const SERVICE_JS = `
const http = require('node:http');
if (process.env.IGNORE_TERM) process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
http.createServer((request, response) => {
  const body = request.url === '/env' ? process.env : { ok: true, pid: process.pid };
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('up'));
`;

/** How one driver is made for the suite, and what it needs around it. */
interface DriverSetup {
  kind: string;
  available: boolean;
  /** Starts what the driver needs (a supervisord) under `root`, and answers the driver. */
  make(root: string): Promise<ProcessDriver>;
  /** Stops what `make` started. */
  teardown(root: string): Promise<void>;
}

const builtin: DriverSetup = {
  kind: 'builtin',
  available: true,
  make: (root) => Promise.resolve(new BuiltinDriver(path.join(root, 'state'), { onEvent: noop })),
  teardown: () => Promise.resolve(),
};

/** The running supervisord of each root. */
const supervisors = new Map<string, TestSupervisord>();

const supervisord: DriverSetup = {
  kind: 'supervisord',
  available: SUPERVISORD_SUITES_RUN,
  async make(root) {
    const supervisor = await startSupervisord(root);
    supervisors.set(root, supervisor);
    return new SupervisordDriver({
      configFile: supervisor.config,
      includeDir: supervisor.include,
      envDir: path.join(root, 'env'),
      supervisorctl: SUPERVISORCTL,
    });
  },
  async teardown(root) {
    await supervisors.get(root)?.stop();
    supervisors.delete(root);
  },
};

for (const setup of [builtin, supervisord]) {
  describe.skipIf(!setup.available)(`ProcessDriver contract: ${setup.kind}`, () => {
    let root: string;
    let app: string;
    let driver: ProcessDriver;
    const started: string[] = [];
    const ports: number[] = [];

    beforeAll(async () => {
      root = await mkdtemp(path.join(os.tmpdir(), `ferry-driver-${setup.kind}-`));
      app = path.join(root, 'app');
      await mkdir(app);
      await writeFile(path.join(app, 'service.js'), SERVICE_JS);
      driver = await setup.make(root);
    }, 60_000);

    afterEach(async () => {
      for (const name of started.splice(0)) await driver.stop(name);
      for (const port of ports.splice(0)) releasePort(port);
    });

    afterAll(async () => {
      await driver?.close();
      await setup.teardown(root);
      await rm(root, { recursive: true, force: true });
    });

    /** A spec of the HTTP service on a port reserved for it; `extra` on top. */
    async function service(name: string, extra: Partial<ServiceSpec> = {}): Promise<ServiceSpec> {
      started.push(name);
      const port = await reservePort();
      ports.push(port);
      const { env, ...rest } = extra;
      return {
        name,
        cwd: app,
        command: `exec ${NODE} service.js`,
        env: { PATH, PORT: String(port), DB_PASSWORD: SECRET, ...env },
        stdoutFile: path.join(root, 'logs', `${name}.stdout.log`),
        stderrFile: path.join(root, 'logs', `${name}.stderr.log`),
        stopSignal: 'SIGTERM',
        stopTimeoutMs: 5000,
        ...rest,
      };
    }

    it('starts a real process that answers its health check, and says it runs with its pid', async () => {
      const spec = await service('web');
      await driver.start(spec);
      const health = await waitHealthy(spec);
      const status = await driver.status('web');
      expect(status).toEqual({ running: true, pid: expect.any(Number) });
      // The pid is the service's own (or the shell's that runs it, in the same group).
      expect([health.pid, readProcStat(health.pid)?.pgrp]).toContain(status.pid);
      // Started again with the same spec, it is left alone.
      await driver.start(spec);
      expect((await waitHealthy(spec)).pid).toBe(health.pid);
    }, 60_000);

    it('runs the process with exactly the environment of its spec, nothing from the agent', async () => {
      process.env.FERRY_CONTRACT_AGENT_ONLY = 'leaked';
      try {
        const spec = await service('envcheck', { env: { GREETING: 'hello world', EMPTY: '' } });
        await driver.start(spec);
        await waitHealthy(spec);
        const seen = (await get(spec, '/env')) as Record<string, string>;
        // /bin/sh exports PWD (the working folder); everything else is the spec's.
        expect(seen).toEqual({ ...spec.env, PWD: app });
      } finally {
        delete process.env.FERRY_CONTRACT_AGENT_ONLY;
      }
    }, 60_000);

    it("keeps a secret variable out of every process's arguments", async () => {
      const spec = await service('private');
      await driver.start(spec);
      await waitHealthy(spec);
      expect(await processesShowing(SECRET)).toEqual([]);
    }, 60_000);

    it('restarts: a new process, with a new spec when given one', async () => {
      const spec = await service('restarted');
      await driver.start(spec);
      const before = await waitHealthy(spec);
      await driver.restart(spec);
      const after = await waitHealthy(spec);
      expect(after.pid).not.toBe(before.pid);
      expect(gone(before.pid)).toBe(true);
      await driver.restart({ ...spec, env: { ...spec.env, GREETING: 'changed' } });
      await waitFor('the new environment', async () =>
        ((await get(spec, '/env').catch(() => ({}))) as Record<string, string>).GREETING ===
        'changed'
          ? true
          : undefined,
      );
    }, 60_000);

    it('stops: nothing answers, nothing of the service is left, and it stays stopped', async () => {
      const spec = await service('stopped');
      await driver.start(spec);
      const { pid } = await waitHealthy(spec);
      await driver.stop('stopped');
      expect(await driver.status('stopped')).toEqual({ running: false, pid: null });
      expect(gone(pid)).toBe(true);
      await expect(get(spec, '/health')).rejects.toThrow();
      // Stopping again, or a service never started, is fine.
      await driver.stop('stopped');
      await driver.stop('never-started');
      // Stopped on purpose, it is not brought back.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await expect(get(spec, '/health')).rejects.toThrow();
    }, 60_000);

    it('kills a process that ignores SIGTERM once its stop timeout has passed', async () => {
      const spec = await service('stubborn', {
        env: { IGNORE_TERM: '1' },
        stopTimeoutMs: 1000,
      });
      await driver.start(spec);
      const { pid } = await waitHealthy(spec);
      const group = readProcStat(pid)?.pgrp;
      const began = Date.now();
      await driver.stop('stubborn');
      const took = Date.now() - began;
      expect(took).toBeGreaterThanOrEqual(1000);
      expect(took).toBeLessThan(15_000);
      expect(await readFile(spec.stdoutFile, 'utf8')).toContain('ignoring SIGTERM');
      expect(gone(pid)).toBe(true);
      if (group) expect(groupMembers(group)).toEqual([]);
      expect(await driver.status('stubborn')).toEqual({ running: false, pid: null });
    }, 60_000);
  });
}

describe('ProcessDriver contract: systemd (no systemd as PID 1 here: its unit and command lines)', () => {
  let root: string;
  let calls: string;
  let driver: SystemdDriver;
  let spec: ServiceSpec;

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'ferry-driver-systemd-'));
    calls = path.join(root, 'systemctl.calls');
    // A stand-in systemctl: it records each command line and says the unit is
    // active once started. It checks nothing; the unit's own checks are
    // systemd-driver.test.ts's (systemd-analyze verify).
    const systemctl = path.join(root, 'systemctl');
    await writeFile(
      systemctl,
      [
        '#!/bin/sh',
        `printf '%s\\n' "$*" >> '${calls}'`,
        `case "$1" in`,
        `  start|restart) echo active > '${root}/state' ;;`,
        `  stop) echo inactive > '${root}/state' ;;`,
        `  show) if [ "$(cat '${root}/state' 2>/dev/null)" = active ]; then printf 'ActiveState=active\\nMainPID=4242\\n'; else printf 'ActiveState=inactive\\nMainPID=0\\n'; fi ;;`,
        'esac',
        '',
      ].join('\n'),
    );
    await chmod(systemctl, 0o755);
    driver = new SystemdDriver({
      unitDir: path.join(root, 'units'),
      envDir: path.join(root, 'env'),
      systemctl,
    });
    spec = {
      name: 'web',
      cwd: path.join(root, 'app'),
      command: `exec ${NODE} service.js`,
      env: { PATH, PORT: '8080', DB_PASSWORD: SECRET },
      stdoutFile: path.join(root, 'logs', 'web.stdout.log'),
      stderrFile: path.join(root, 'logs', 'web.stderr.log'),
      stopSignal: 'SIGTERM',
      stopTimeoutMs: 1000,
    };
  });

  afterEach(async () => {
    await driver.close();
    await rm(root, { recursive: true, force: true });
  });

  const unit = () => readFile(path.join(root, 'units', 'ferry-web.service'), 'utf8');
  /** The systemctl command lines so far, but the `show` of each status. */
  const recorded = async () =>
    (await readFile(calls, 'utf8'))
      .trim()
      .split('\n')
      .filter((line) => !line.startsWith('show '));

  it('starts: writes the unit, reloads, enables and starts it, and says it runs', async () => {
    await driver.start(spec);
    expect(await recorded()).toEqual([
      'daemon-reload',
      'enable ferry-web.service',
      'restart ferry-web.service',
    ]);
    const text = await unit();
    expect(text).toContain(`WorkingDirectory=${spec.cwd}\n`);
    expect(text).toMatch(/^ExecStart=\/bin\/sh -c .*service\.js/m);
    expect(await driver.status('web')).toEqual({ running: true, pid: 4242 });
    // Started again with the same spec: no reload, and `start` leaves a running unit alone.
    await driver.start(spec);
    expect((await recorded()).slice(3)).toEqual([
      'enable ferry-web.service',
      'start ferry-web.service',
    ]);
  });

  it('passes exactly the environment of its spec, through a 0600 file systemd alone reads', async () => {
    await driver.start(spec);
    const text = await unit();
    expect(text).not.toMatch(/^Environment=/m);
    const envFile = /^EnvironmentFile=(.*)$/m.exec(text)![1]!;
    const lines = (await readFile(envFile, 'utf8')).split('\n').filter((l) => /^\w+=/.test(l));
    expect(lines.map((l) => l.split('=')[0]).sort()).toEqual(Object.keys(spec.env).sort());
    expect(lines).toContain('PORT="8080"');
  });

  it('keeps a secret variable out of the unit and of every systemctl command line', async () => {
    await driver.start(spec);
    await driver.restart(spec);
    await driver.stop('web');
    expect(await unit()).not.toContain(SECRET);
    expect(await readFile(calls, 'utf8')).not.toContain(SECRET);
  });

  it('restarts with a new spec: a new environment file, or a new unit reloaded, then restart', async () => {
    await driver.start(spec);
    // systemd reads the environment file at each start: no reload needed.
    await driver.restart({ ...spec, env: { ...spec.env, GREETING: 'changed' } });
    expect((await recorded()).slice(3)).toEqual([
      'enable ferry-web.service',
      'restart ferry-web.service',
    ]);
    const envFile = /^EnvironmentFile=(.*)$/m.exec(await unit())![1]!;
    expect(await readFile(envFile, 'utf8')).toContain('GREETING="changed"');
    // A new command is a new unit, which systemd must load first.
    await driver.restart({ ...spec, command: `exec ${NODE} other.js` });
    expect((await recorded()).slice(5)).toEqual([
      'daemon-reload',
      'enable ferry-web.service',
      'restart ferry-web.service',
    ]);
    expect(await unit()).toContain('other.js');
  });

  it('stops and disables, and a service never started is fine', async () => {
    await driver.start(spec);
    await driver.stop('web');
    expect((await recorded()).slice(3)).toEqual([
      'stop ferry-web.service',
      'disable ferry-web.service',
    ]);
    expect(await driver.status('web')).toEqual({ running: false, pid: null });
    await driver.stop('never-started');
    expect(await recorded()).toHaveLength(5);
  });

  it('has systemd kill a process that ignores SIGTERM once its stop timeout has passed', async () => {
    await driver.start(spec);
    const text = await unit();
    // The whole control group gets the stop signal, then SIGKILL after the timeout.
    expect(text).toContain('KillMode=control-group\n');
    expect(text).toContain('KillSignal=SIGTERM\n');
    expect(text).toContain('TimeoutStopSec=1000ms\n');
    expect(text).not.toMatch(/^SendSIGKILL=no/m);
  });
});

function noop(): void {}

/** True once a process has exited (a zombie, not yet reaped, has). */
function gone(pid: number): boolean {
  const stat = readProcStat(pid);
  return stat === null || stat.state === 'Z' || stat.state === 'X';
}

async function get(spec: ServiceSpec, route: string): Promise<unknown> {
  const response = await fetch(`http://127.0.0.1:${spec.env.PORT}${route}`, {
    signal: AbortSignal.timeout(2000),
  });
  return response.json();
}

/** Waits until the service answers its health check; answers the pid it gave. */
function waitHealthy(spec: ServiceSpec): Promise<{ ok: true; pid: number }> {
  return waitFor(
    `${spec.name} to answer its health check`,
    async () => {
      const answer = (await get(spec, '/health').catch(() => undefined)) as
        { ok: true; pid: number } | undefined;
      return answer?.ok ? answer : undefined;
    },
    20_000,
  );
}

/** The processes of this machine whose arguments (`/proc/<pid>/cmdline`) hold `text`. */
async function processesShowing(text: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const args = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (args.includes(text)) found.push(`${entry}: ${args.replaceAll('\0', ' ')}`);
  }
  return found;
}
