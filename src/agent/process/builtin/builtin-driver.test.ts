import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ServiceSpec } from '../process-driver.js';
import {
  BuiltinDriver,
  type BuiltinDriverEvent,
  type BuiltinDriverOptions,
} from './builtin-driver.js';
import { groupMembers, isRunning, readProcStat } from './proc-stat.js';

const NODE = process.execPath;
const PATH = `${path.dirname(NODE)}:/usr/bin:/bin`;
const FAST: BuiltinDriverOptions = {
  pollIntervalMs: 50,
  backoffInitialMs: 200,
  backoffMaxMs: 800,
  backoffResetMs: 5_000,
};

let root: string;
let stateDir: string;
let drivers: BuiltinDriver[];
let events: BuiltinDriverEvent[];

beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'ferry-builtin-'));
  stateDir = path.join(root, 'agent', 'services');
  drivers = [];
  events = [];
});

afterEach(async () => {
  for (const driver of drivers) await driver.close();
  // Whatever the drivers recorded, and whatever mentions `root` on its command line.
  for (const file of readdirSafe(stateDir)) {
    const record = JSON.parse(readFileSync(path.join(stateDir, file), 'utf8')) as { pid: unknown };
    if (typeof record.pid === 'number') kill(-record.pid);
  }
  for (const pid of processesMentioning(root)) kill(pid);
  rmSync(root, { recursive: true, force: true });
});

function newDriver(options: BuiltinDriverOptions = FAST): BuiltinDriver {
  const driver = new BuiltinDriver(stateDir, { ...options, onEvent: (e) => events.push(e) });
  drivers.push(driver);
  return driver;
}

/** A service running `node -e script`, with `root` as an argument so that cleanup finds it. */
function nodeService(name: string, script: string, extra: Partial<ServiceSpec> = {}): ServiceSpec {
  return shService(name, `exec ${NODE} -e ${shellQuote(script)} ${root}`, extra);
}

function shService(name: string, command: string, extra: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    name,
    cwd: root,
    command: `${command} # ${root}`,
    env: { PATH, FERRY_TEST: 'yes' },
    stdoutFile: path.join(root, 'logs', `${name}.stdout.log`),
    stderrFile: path.join(root, 'logs', `${name}.stderr.log`),
    stopSignal: 'SIGTERM',
    stopTimeoutMs: 5_000,
    ...extra,
  };
}

const IDLE = 'setInterval(() => {}, 1000)';

describe('BuiltinDriver', () => {
  it('runs the command with exactly its environment, in its folder, stdout and stderr in two files', async () => {
    const driver = newDriver();
    const spec = nodeService(
      'env-dump',
      `console.log(JSON.stringify({ env: process.env, cwd: process.cwd() })); console.error('to stderr'); ${IDLE}`,
      { env: { PATH, ODD: `a b"c'd$e;%f\\g`, EMPTY: '' } },
    );
    await driver.start(spec);
    const stdout = await waitForText(spec.stdoutFile, '}');
    const seen = JSON.parse(stdout) as { env: Record<string, string>; cwd: string };
    // /bin/sh exports PWD itself; nothing else comes from the agent's environment.
    expect(seen.env).toEqual({ ...spec.env, PWD: root });
    expect(seen.cwd).toBe(root);
    expect(await waitForText(spec.stderrFile, 'to stderr')).toBe('to stderr\n');
    expect(stdout).not.toContain('to stderr');
  });

  it('appends to existing log files', async () => {
    const driver = newDriver();
    const spec = shService('appender', 'echo second; echo second-err >&2; exec sleep 300');
    execFileSync('/bin/mkdir', ['-p', path.dirname(spec.stdoutFile)]);
    writeFileSync(spec.stdoutFile, 'first\n');
    writeFileSync(spec.stderrFile, 'first-err\n');
    await driver.start(spec);
    expect(await waitForText(spec.stdoutFile, 'second')).toBe('first\nsecond\n');
    expect(await waitForText(spec.stderrFile, 'second-err')).toBe('first-err\nsecond-err\n');
  });

  it('restarts a killed service with a new pid, after a backoff that doubles', async () => {
    const driver = newDriver();
    const spec = shService('crashy', 'exec sleep 300');
    await driver.start(spec);
    const first = await driver.status('crashy');
    expect(first.running).toBe(true);

    const killedAt = Date.now();
    kill(first.pid!);
    const second = await waitForRestart(driver, 'crashy', first.pid!);
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(200);

    kill(second);
    const third = await waitForRestart(driver, 'crashy', second);
    expect(third).not.toBe(second);
    expect(
      events
        .filter((e) => e.type === 'restarting')
        .map((e) => e.type === 'restarting' && e.delayMs),
    ).toEqual([200, 400]);
  });

  it('stops with the stop signal, and leaves a stopped service stopped', async () => {
    const driver = newDriver();
    const spec = nodeService(
      'graceful',
      `process.on('SIGINT', () => { console.log('bye'); process.exit(0); }); console.log('up'); ${IDLE}`,
      { stopSignal: 'SIGINT' },
    );
    await driver.start(spec);
    await waitForText(spec.stdoutFile, 'up');
    const { pid } = await driver.status('graceful');
    const began = Date.now();
    await driver.stop('graceful');
    expect(Date.now() - began).toBeLessThan(2_000);
    expect(readFileSync(spec.stdoutFile, 'utf8')).toBe('up\nbye\n');
    expect(readProcStat(pid!)?.state ?? 'gone').toMatch(/gone|Z/);
    await sleep(600); // longer than the backoff: no restart may come
    expect(await driver.status('graceful')).toEqual({ running: false, pid: null });
    expect(events.some((e) => e.type === 'restarted')).toBe(false);
    await driver.stop('graceful'); // stopping again is fine
    await driver.stop('never-started');
  });

  it('sends SIGKILL to the whole group when the stop signal is ignored past stopTimeout', async () => {
    const driver = newDriver();
    // The shell traps TERM; its `sleep` children are in its group too.
    const spec = shService(
      'stubborn',
      `trap 'echo got-term >&2' TERM; echo up; while :; do sleep 0.1; done`,
      { stopTimeoutMs: 700 },
    );
    await driver.start(spec);
    await waitForText(spec.stdoutFile, 'up');
    const { pid } = await driver.status('stubborn');
    const began = Date.now();
    await driver.stop('stubborn');
    const took = Date.now() - began;
    expect(took).toBeGreaterThanOrEqual(700);
    expect(took).toBeLessThan(3_000);
    expect(readFileSync(spec.stderrFile, 'utf8')).toContain('got-term');
    expect(processesMentioning(root)).toEqual([]);
    expect(readProcStat(pid!)?.state ?? 'gone').toMatch(/gone|Z/);
  });

  it('leaves a running service alone on start with the same spec, restarts it on a new one', async () => {
    const driver = newDriver();
    const spec = nodeService('steady', IDLE);
    await driver.start(spec);
    const { pid } = await driver.status('steady');
    await driver.start({ ...spec, env: { FERRY_TEST: 'yes', PATH } }); // same, keys reordered
    expect((await driver.status('steady')).pid).toBe(pid);
    await driver.start({ ...spec, env: { ...spec.env, FERRY_TEST: 'changed' } });
    const changed = await driver.status('steady');
    expect(changed.running).toBe(true);
    expect(changed.pid).not.toBe(pid);
    await driver.restart({ ...spec, env: { ...spec.env, FERRY_TEST: 'changed' } });
    const restarted = await driver.status('steady');
    expect(restarted.running).toBe(true);
    expect(restarted.pid).not.toBe(changed.pid);
    // Nothing of the earlier starts is left. (The new one is not looked for by
    // its command line: between its shell's two execs, /proc may show it empty.)
    expect(processesMentioning(root).filter((p) => p !== restarted.pid)).toEqual([]);
  });

  it('refuses a bad spec and a missing working folder with coded errors', async () => {
    const driver = newDriver();
    await expect(driver.start(shService('Bad_Name', 'true'))).rejects.toMatchObject({
      code: 'E_SERVICE_INVALID',
    });
    await expect(driver.start(shService('rel', 'true', { cwd: 'relative' }))).rejects.toMatchObject(
      { code: 'E_SERVICE_INVALID' },
    );
    await expect(
      driver.start(shService('nowhere', 'true', { cwd: path.join(root, 'missing') })),
    ).rejects.toMatchObject({ code: 'E_SERVICE_START_FAILED' });
  });

  describe('after an agent restart', () => {
    let bundle: string;

    beforeAll(() => {
      // The first "agent" must be another process that exits, so that the
      // service becomes an orphan the way it does in production; node cannot
      // load TypeScript, so the driver is bundled for it.
      const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-builtin-bundle-'));
      bundle = path.join(dir, 'builtin-driver.mjs');
      const here = path.dirname(fileURLToPath(import.meta.url));
      execFileSync(
        path.join(here, '../../../../node_modules/.bin/esbuild'),
        [
          path.join(here, 'builtin-driver.ts'),
          '--bundle',
          '--platform=node',
          '--format=esm',
          `--outfile=${bundle}`,
          '--log-level=warning',
        ],
        { stdio: 'inherit' },
      );
    });

    afterAll(() => rmSync(path.dirname(bundle), { recursive: true, force: true }));

    it('adopts the running service, starts no second one, and restarts it when it dies', async () => {
      const spec = nodeService('survivor', IDLE);
      execFileSync(
        NODE,
        [
          '--input-type=module',
          '-e',
          `const { BuiltinDriver } = await import(process.argv[1]);
           const driver = new BuiltinDriver(process.argv[2]);
           await driver.start(JSON.parse(process.argv[3]));
           await driver.close();`,
          bundle,
          stateDir,
          JSON.stringify(spec),
        ],
        { stdio: 'inherit', timeout: 20_000 },
      );
      // The service may still be between its gated shell's exec and node's, when
      // /proc shows an empty command line for a moment: look until it is there.
      await expect
        .poll(() => processesMentioning(root).length, { timeout: 10_000, interval: 50 })
        .toBe(1);
      const [orphan] = processesMentioning(root);
      expect(orphan).toBeDefined();
      expect(readProcStat(orphan!)?.ppid).not.toBe(process.pid);

      const driver = newDriver();
      expect(await driver.status('survivor')).toEqual({ running: true, pid: orphan });
      expect(events).toContainEqual({ type: 'adopted', name: 'survivor', pid: orphan });
      await driver.start(spec);
      expect(await driver.status('survivor')).toEqual({ running: true, pid: orphan });
      expect(processesMentioning(root)).toEqual([orphan]);

      // Not our child: it lingers as a zombie until PID 1 reaps it, and must count as dead.
      kill(orphan!);
      const next = await waitForRestart(driver, 'survivor', orphan!);
      expect(processesMentioning(root)).toEqual([next]);
    });

    it('never runs a service whose agent died before recording it', async () => {
      // The service would hold its port against every later start, unknown to
      // any record, while health checks were answered by it (issue 13's
      // rollback that ended `succeeded` with the port still serving v2).
      const marker = path.join(root, 'ran');
      const spec = shService(
        'unrecorded',
        // `root` in its arguments, so that cleanup finds it should it run.
        `echo ran >> ${marker}; exec ${NODE} -e ${shellQuote(IDLE)} ${root}`,
      );
      // The agent blocks in writing the record: its temporary file is a FIFO nobody reads.
      const agent = spawn(
        NODE,
        [
          '--input-type=module',
          '-e',
          `const { execFileSync } = await import('node:child_process');
           const { mkdirSync } = await import('node:fs');
           const [bundle, stateDir, spec] = process.argv.slice(1);
           const { name } = JSON.parse(spec);
           mkdirSync(stateDir, { recursive: true });
           execFileSync('mkfifo', [stateDir + '/' + name + '.json.' + process.pid + '.tmp']);
           const { BuiltinDriver } = await import(bundle);
           await new BuiltinDriver(stateDir).start(JSON.parse(spec));`,
          bundle,
          stateDir,
          JSON.stringify(spec),
        ],
        { stdio: 'inherit' },
      );
      const exited = new Promise((resolve) => agent.once('exit', resolve));
      let service = 0;
      await waitUntil(() => {
        service = processesMentioning(root).find((p) => readProcStat(p)?.ppid === agent.pid) ?? 0;
        return service !== 0;
      });
      agent.kill('SIGKILL');
      await exited;
      // Either it ran (the marker) or it is gone without running.
      await waitUntil(() => existsSync(marker) || groupMembers(service).length === 0);
      expect(existsSync(marker)).toBe(false);
      expect(groupMembers(service)).toEqual([]);

      // The next agent starts it, once.
      const driver = newDriver();
      await driver.start(spec);
      expect(await waitForText(marker, 'ran')).toBe('ran\n');
    });

    it('restarts a wanted service that died while no agent ran', async () => {
      const spec = shService('lost', `exec sleep 300`);
      const first = newDriver();
      await first.start(spec);
      const { pid } = await first.status('lost');
      await first.close();
      kill(pid!);
      await waitUntil(() => readProcStat(pid!) === null);
      const second = newDriver();
      const next = await waitForRestart(second, 'lost', pid!);
      expect(next).not.toBe(pid);
      // One record, no second service (a record being rewritten may show its temporary file).
      expect(readdirSync(stateDir).filter((f) => !f.endsWith('.tmp'))).toEqual(['lost.json']);
    });

    it('never signals the group that the pid of its dead service leads now (the pid reused, or the host rebooted)', async () => {
      // Another program, leading a process group of its own, has the pid the record names.
      const other = spawn(NODE, ['-e', IDLE, root], { detached: true, stdio: 'ignore' });
      other.unref();
      const pid = other.pid!;
      const startTime = readProcStat(pid)!.startTime;
      const spec = shService('reused', `exec sleep 300`);
      mkdirSync(stateDir, { recursive: true });
      writeFileSync(
        path.join(stateDir, 'reused.json'),
        JSON.stringify({ spec, wanted: true, pid, startTime: `${startTime}0`, startedAt: 1 }),
      );
      const driver = newDriver();
      // Seen dead (its start time is not that process's), and started again.
      const next = await waitForRestart(driver, 'reused', pid);
      expect(events).toContainEqual(
        expect.objectContaining({ type: 'exited', name: 'reused', pid }),
      );
      expect(next).not.toBe(pid);
      expect(isRunning(pid, startTime)).toBe(true);
    });
  });
});

async function waitForRestart(
  driver: BuiltinDriver,
  name: string,
  oldPid: number,
): Promise<number> {
  let pid: number | null = null;
  await waitUntil(async () => {
    const status = await driver.status(name);
    pid = status.running && status.pid !== oldPid ? status.pid : null;
    return pid !== null;
  });
  return pid!;
}

async function waitForText(file: string, text: string): Promise<string> {
  let content = '';
  await waitUntil(() => {
    try {
      content = readFileSync(file, 'utf8');
    } catch {
      return false;
    }
    return content.includes(text);
  });
  return content;
}

async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(25);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Live processes whose command line mentions `text` (zombies have none). */
function processesMentioning(text: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes(text) && readProcStat(Number(entry))?.state !== 'Z') {
        found.push(Number(entry));
      }
    } catch {
      // It ended while we looked.
    }
  }
  return found;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir).filter((file) => file.endsWith('.json'));
  } catch {
    return [];
  }
}

/** SIGKILL to a process, or to a process group when `pid` is negative. */
function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
