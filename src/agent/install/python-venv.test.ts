import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readDependencyKey, VENV_DIR } from './dependency-reuse.js';
import { buildWheel } from './python-wheel-fixture.js';
import { switchCurrent } from './release-files.js';
import { installCommandsStep } from './steps/install-commands-step.js';
import { APP, section, type StepFixture, stepFixture } from './steps/install-step-fixture.js';
import type { InstallContext } from './steps/install-step.js';

const run = promisify(execFile);

let fx: StepFixture;
// The agent's root reached through a symlink: python3 -m venv writes the resolved path.
beforeEach(async () => (fx = await stepFixture({ throughSymlink: true })));
afterEach(() => fx.close());

// Into the venv: a file the install made beside it would keep the venv from being reused.
const PYTHON = { runtime: 'python', install: ['ferrydep-hello >> .venv/installed.txt'] };

/** Installs `version` of a `runtime: python` app needing ferrydep `dep`, from a wheel of its own, and makes it current. */
async function installPython(
  version: number,
  dep: string,
  extra: Record<string, unknown> = {},
  requirement = `ferrydep==${dep}`,
): Promise<InstallContext> {
  const ctx = await fx.context({ version, manifest: section({ ...PYTHON, ...extra }) });
  // Making a virtualenv with pip in it takes seconds of CPU: on a loaded machine, more than the fixture's 10 s.
  ctx.host.commandTimeoutMs = 300_000;
  const dir = ctx.paths.releaseDir;
  await mkdir(path.join(dir, 'wheels'), { recursive: true });
  // One wheel per version, copied into each release: a rebuilt one differs (zip times), and the key hashes wheels.
  const built = path.join(fx.root, 'built-wheels', dep);
  const wheel =
    (await readdir(built).catch(() => []))[0] ?? (await buildWheel(built, 'ferrydep', dep));
  await copyFile(path.join(built, wheel), path.join(dir, 'wheels', wheel));
  await writeFile(path.join(dir, 'requirements.txt'), `${requirement}\n`);
  await installCommandsStep.run(ctx);
  if (ctx.failure === undefined) await switchCurrent(ctx.paths.appDir, version);
  return ctx;
}

/** Runs a program of a release's venv by its path, with nothing of the agent's environment. */
async function inVenv(version: number, program: string, args: string[] = []): Promise<string> {
  const venv = path.join(fx.appsDir, APP, 'releases', String(version), VENV_DIR);
  const { stdout } = await run(path.join(venv, 'bin', program), args, {
    env: { PATH: '/usr/bin:/bin' },
  });
  return stdout.trim();
}

describe('a runtime: python release', () => {
  it('gets a virtualenv of its own, installed from its wheels, first on the PATH of its commands', async () => {
    const ctx = await installPython(1, '1.0');
    expect(ctx.failure, fx.output()).toBeUndefined();
    expect(fx.output()).toContain('--no-index --find-links wheels -r requirements.txt');
    // The install command found the venv's console script on its PATH.
    expect(await readFile(path.join(ctx.paths.releaseDir, '.venv/installed.txt'), 'utf8')).toBe(
      'hello from ferrydep 1.0\n',
    );
    expect(ctx.env.PATH?.split(':')[0]).toBe(path.join(ctx.paths.releaseDir, VENV_DIR, 'bin'));
    expect(ctx.env.VIRTUAL_ENV).toBe(path.join(ctx.paths.releaseDir, VENV_DIR));
    const key = await readDependencyKey(ctx.paths.releaseDir);
    expect(Object.keys(key?.inputs ?? {})).toEqual(['wheels/ferrydep-1.0-py3-none-any.whl']);
    expect(key?.reusable).toBeUndefined();
  }, 600_000);

  it('reuses the virtualenv when requirements.txt is unchanged, and it works from the new release alone (a root through a symlink)', async () => {
    await installPython(1, '1.0');
    const ctx = await installPython(2, '1.0');
    expect(ctx.failure, fx.output()).toBeUndefined();
    expect(fx.output()).toContain('reused .venv from releases/1: requirements.txt unchanged');
    // The install commands did not run again: the copied venv has release 1's one line.
    expect(await readFile(path.join(ctx.paths.releaseDir, '.venv/installed.txt'), 'utf8')).toBe(
      'hello from ferrydep 1.0\n',
    );
    // With release 1 gone, release 2's python and scripts still run, and know their venv.
    await rm(path.join(fx.appsDir, APP, 'releases/1'), { recursive: true });
    expect(await inVenv(2, 'ferrydep-hello')).toBe('hello from ferrydep 1.0');
    expect(await inVenv(2, 'python', ['-c', 'import sys, ferrydep; print(sys.prefix)'])).toBe(
      path.join(ctx.paths.releaseDir, VENV_DIR),
    );
    expect(await inVenv(2, 'pip', ['--version'])).toContain(
      path.join(ctx.paths.releaseDir, VENV_DIR),
    );
  }, 600_000);

  it('installs afresh when requirements.txt changed', async () => {
    await installPython(1, '1.0');
    const ctx = await installPython(2, '2.0');
    expect(ctx.failure, fx.output()).toBeUndefined();
    expect(fx.output()).toContain('installing afresh: requirements.txt changed since releases/1');
    expect(await inVenv(2, 'ferrydep-hello')).toBe('hello from ferrydep 2.0');
    expect(await inVenv(1, 'ferrydep-hello')).toBe('hello from ferrydep 1.0');
  }, 600_000);

  it("installs afresh when requirements.txt installs from the release's own files", async () => {
    const wheel = './wheels/ferrydep-1.0-py3-none-any.whl';
    await installPython(1, '1.0', {}, wheel);
    const ctx = await installPython(2, '1.0', {}, wheel);
    expect(ctx.failure, fx.output()).toBeUndefined();
    expect(fx.output()).toContain(
      `installing afresh: requirements.txt installs from the release's own files (${wheel})`,
    );
    expect(fx.output()).not.toContain('reused');
    await rm(path.join(fx.appsDir, APP, 'releases/1'), { recursive: true });
    expect(await inVenv(2, 'ferrydep-hello')).toBe('hello from ferrydep 1.0');
  }, 600_000);

  it('fails naming python3-venv on a host whose python3 cannot make a virtualenv', async () => {
    // Fault injected: a python3 first on the PATH whose standard library lacks ensurepip (Debian without python3-venv).
    const bin = path.join(fx.root, 'fake-bin');
    await mkdir(bin, { recursive: true });
    await writeFile(
      path.join(bin, 'python3'),
      '#!/bin/sh\necho "ModuleNotFoundError: No module named \'ensurepip\'" >&2\nexit 1\n',
    );
    await chmod(path.join(bin, 'python3'), 0o755);
    const ctx = await fx.context({ version: 1, manifest: section(PYTHON) });
    ctx.env.PATH = `${bin}:${ctx.env.PATH ?? ''}`;
    await mkdir(ctx.paths.releaseDir, { recursive: true });
    await writeFile(path.join(ctx.paths.releaseDir, 'requirements.txt'), 'ferrydep==1.0\n');
    await installCommandsStep.run(ctx);
    expect(ctx.failure?.error).toContain('install the python3-venv package');
    expect(ctx.failure?.error).toContain("No module named 'ensurepip'");
    expect(fx.reported().at(-1)).toEqual(['install', false]);
  });
});
