import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { releasePort, reservePort } from '../../../dev/port-allocator.js';
import { BuiltinDriver } from '../../process/builtin/builtin-driver.js';
import { readProcStat } from '../../process/builtin/proc-stat.js';
import { healthStep } from './health-step.js';
import { APP, section, type StepFixture, stepFixture } from './install-step-fixture.js';
import { startStep } from './start-step.js';

/** The app: answers its version on APP_PORT, and stops on SIGTERM. */
const SERVER = `import http from 'node:http';
const server = http.createServer((request, response) => {
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ ok: true, version: process.env.FERRY_VERSION }));
});
server.listen(Number(process.env.APP_PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

let fx: StepFixture;
let port: number;
let drivers: BuiltinDriver[];
beforeEach(async () => {
  fx = await stepFixture();
  port = await reservePort();
  drivers = [];
});
afterEach(async () => {
  for (const driver of drivers) await driver.close();
  // Every process of a test has the fixture's root in its arguments or its working folder.
  for (const pid of processesUnder(fx.root)) kill(pid);
  releasePort(port);
  await fx.close();
});

const manifest = (command: string) =>
  section({
    service: { command, env: { APP_PORT: '${PORT}' } },
    health: { http: 'http://127.0.0.1:${PORT}/health', timeout: '10s', interval: '100ms' },
  });

/** Installs release `version` with the app in it and points `current` at it. */
async function release(version: number, command = `exec node server.mjs ${fx.root}`) {
  const dir = await fx.installed(version, manifest(command));
  await writeFile(path.join(dir, 'server.mjs'), SERVER);
  return dir;
}

/** Runs the app from `cwd`, outside any driver, and waits until it answers. */
async function serve(cwd: string, version: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['server.mjs', fx.root], {
    cwd,
    env: { APP_PORT: String(port), FERRY_VERSION: String(version) },
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
  await answers();
  return child;
}

async function answers(): Promise<unknown> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await (await fetch(`http://127.0.0.1:${port}/health`)).json();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

describe('the health step, on who answered its check', () => {
  it('fails a check answered by a process of an earlier release, naming it', async () => {
    const old = await serve(await release(1), 1);
    await release(2);
    const ctx = await fx.context(
      { manifest: manifest('node server.mjs'), vars: { PORT: `${port}` } },
      { previous: 1 },
    );
    await healthStep.run(ctx);
    expect(fx.reported().at(-1)).toEqual(['health', false]);
    expect(ctx.revertFor?.error).toBe(
      `health check failed: port ${port} is held by pid ${old.pid}, which runs releases/1 of ${APP}, ` +
        'not by the service of releases/2: an earlier release outlived its stop and answered',
    );
  });

  it('passes a check answered by the service, and says so', async () => {
    const service = await serve(await release(2), 2);
    fx.driver.status = () => Promise.resolve({ running: true, pid: service.pid! });
    const ctx = await fx.context({
      manifest: manifest('node server.mjs'),
      vars: { PORT: `${port}` },
    });
    await healthStep.run(ctx);
    expect(ctx.revertFor).toBeUndefined();
    expect(fx.output()).toContain(`port ${port}: held by the service (pid ${service.pid})\n`);
  });

  it('passes a check answered by another process of the service’s group (a shell’s child), and says so', async () => {
    const dir = await release(2);
    // The service's main process is a shell that does not exec: its child, in
    // the shell's process group, holds the port.
    const shell = spawn('/bin/sh', ['-c', `node server.mjs ${fx.root}; true`], {
      cwd: dir,
      env: { ...process.env, APP_PORT: String(port), FERRY_VERSION: '2' },
      detached: true,
      stdio: 'ignore',
    });
    shell.unref();
    await answers();
    fx.driver.status = () => Promise.resolve({ running: true, pid: shell.pid! });
    const ctx = await fx.context({
      manifest: manifest('node server.mjs'),
      vars: { PORT: `${port}` },
    });
    await healthStep.run(ctx);
    expect(ctx.revertFor).toBeUndefined();
    const holder = Number(/held by the service \(pid (\d+)\)/.exec(fx.output())?.[1]);
    expect(holder).not.toBe(shell.pid);
    expect(readProcStat(holder)).toMatchObject({ ppid: shell.pid, pgrp: shell.pid });
  });

  it('passes a check answered by a process that is not the app’s (a proxy in front), and notes it', async () => {
    await release(2);
    await writeFile(path.join(fx.root, 'server.mjs'), SERVER);
    const proxy = await serve(fx.root, 2);
    const ctx = await fx.context({
      manifest: manifest('node server.mjs'),
      vars: { PORT: `${port}` },
    });
    await healthStep.run(ctx);
    expect(ctx.revertFor).toBeUndefined();
    expect(fx.output()).toContain(
      `port ${port}: held by pid ${proxy.pid}, not one of the service's processes\n`,
    );
  });

  it('fails the next release when an earlier one left its server running outside the service’s process group', async () => {
    // Release 1's server leaves the service's process group (setsid): stopping
    // the service does not stop it, and it keeps the port.
    const driver = new BuiltinDriver(path.join(fx.root, 'agent', 'services'));
    drivers.push(driver);
    const escaping = `setsid -f node server.mjs ${fx.root}; exec node -e 'setInterval(() => {}, 1000)' ${fx.root}`;
    await release(1, escaping);
    const first = await fx.context({
      version: 1,
      manifest: manifest(escaping),
      vars: { PORT: `${port}` },
    });
    first.host.driver = driver;
    await startStep.run(first);
    await healthStep.run(first);
    expect(first.revertFor).toBeUndefined();
    expect(await answers()).toEqual({ ok: true, version: '1' });

    // Release 2 cannot bind the port; the check is answered by release 1.
    await release(2);
    const second = await fx.context(
      { manifest: manifest(`exec node server.mjs ${fx.root}`), vars: { PORT: `${port}` } },
      { previous: 1 },
    );
    second.host.driver = driver;
    await startStep.run(second);
    await healthStep.run(second);
    expect(await answers()).toEqual({ ok: true, version: '1' });
    expect(fx.reported().at(-1)).toEqual(['health', false]);
    expect(second.revertFor?.error).toMatch(
      new RegExp(
        `^health check failed: port ${port} is held by pid \\d+, which runs releases/1 of`,
      ),
    );
  });
});

/** Live processes with `root` on their command line or as their working folder. */
function processesUnder(root: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes(root) && readProcStat(Number(entry))?.state !== 'Z') {
        found.push(Number(entry));
      }
    } catch {
      // It ended while we looked.
    }
  }
  return found;
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}
