import { appendFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Runtimes } from '../../../protocol/host-facts.js';
import { DEPENDENCIES_FILE, NODE_LOCKFILES, readDependencyKey } from '../dependency-reuse.js';
import { switchCurrent } from '../release-files.js';
import { APP, section, type StepFixture, stepFixture } from './install-step-fixture.js';
import { installCommandsStep } from './install-commands-step.js';
import type { InstallContext } from './install-step.js';

let fx: StepFixture;
beforeEach(async () => (fx = await stepFixture()));
afterEach(() => fx.close());

describe('installCommandsStep', () => {
  it('runs the install hooks and commands in the release, in order, each its own step', async () => {
    const ctx = await fx.context({
      manifest: section({
        hooks: { beforeInstall: ['echo before >> order'], afterInstall: ['echo after >> order'] },
        install: ['echo "install $FERRY_VERSION $HOME" >> order'],
      }),
    });
    await mkdir(ctx.paths.releaseDir, { recursive: true });
    await installCommandsStep.run(ctx);
    expect(ctx.failure).toBeUndefined();
    expect(await readFile(path.join(ctx.paths.releaseDir, 'order'), 'utf8')).toBe(
      `before\ninstall 2 ${fx.root}\nafter\n`,
    );
    expect(fx.reported().map(([name]) => name)).toEqual([
      'prepare',
      'before-install',
      'install',
      'after-install',
    ]);
  });

  it('stops at the first failing command, with its exit code', async () => {
    const ctx = await fx.context({
      manifest: section({ install: ['exit 4'], hooks: { afterInstall: ['touch never'] } }),
    });
    await mkdir(ctx.paths.releaseDir, { recursive: true });
    await installCommandsStep.run(ctx);
    expect(ctx.failure?.error).toBe('`exit 4` exited with code 4');
    expect(fx.reported().map(([name]) => name)).not.toContain('after-install');
  });
});

/** Installs `version` with `files` in its release (as unpacked) and makes it current. */
async function installRelease(
  version: number,
  files: Record<string, string>,
  manifest: Record<string, unknown>,
  runtimes?: Partial<Runtimes>,
): Promise<InstallContext> {
  const ctx = await fx.context({ version, manifest: section(manifest) });
  if (runtimes) {
    const probed = { node: null, npm: null, python3: null, pip: null, ...runtimes };
    ctx.host.runtimes = () => Promise.resolve(probed);
  }
  await mkdir(ctx.paths.releaseDir, { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(ctx.paths.releaseDir, rel)), { recursive: true });
    await writeFile(path.join(ctx.paths.releaseDir, rel), content);
  }
  await installCommandsStep.run(ctx);
  expect(ctx.failure, fx.output()).toBeUndefined();
  await switchCurrent(ctx.paths.appDir, version);
  return ctx;
}

/** An install that writes its version into node_modules and counts its runs. */
const NPM_LIKE = {
  install: [
    'mkdir -p node_modules/dep && echo "$FERRY_VERSION" > node_modules/dep/index.js && echo run >> "$HOME/runs"',
  ],
};
const depOf = (version: number) =>
  readFile(
    path.join(fx.appsDir, APP, 'releases', String(version), 'node_modules/dep/index.js'),
    'utf8',
  );
const runs = async () =>
  (await readFile(path.join(fx.root, 'runs'), 'utf8')).split('\n').length - 1;

describe('installCommandsStep reusing installed dependencies', () => {
  it.each(NODE_LOCKFILES)(
    'copies node_modules when %s is unchanged, saying so',
    async (lockfile) => {
      await installRelease(1, { [lockfile]: 'lock v1' }, NPM_LIKE);
      const ctx = await installRelease(2, { [lockfile]: 'lock v1' }, NPM_LIKE);
      expect(await depOf(2)).toBe('1\n');
      expect(await runs()).toBe(1);
      expect(fx.output()).toContain(`reused node_modules from releases/1: ${lockfile} unchanged`);
      const key = await readDependencyKey(ctx.paths.releaseDir);
      expect(key?.lockfiles[lockfile]).toMatch(/^[0-9a-f]{64}$/);
      expect(key?.install).toEqual(NPM_LIKE.install);
    },
  );

  it('gives the new release its own copy: writing into it leaves the old one as it was', async () => {
    await installRelease(1, { 'package-lock.json': 'lock v1' }, NPM_LIKE);
    const ctx = await installRelease(2, { 'package-lock.json': 'lock v1' }, NPM_LIKE);
    const file = (v: number) =>
      path.join(fx.appsDir, APP, 'releases', String(v), 'node_modules/dep/index.js');
    await writeFile(file(2), 'changed in 2');
    await appendFile(file(1), 'appended in 1');
    expect(await readFile(file(1), 'utf8')).toBe('1\nappended in 1');
    expect(await readFile(file(2), 'utf8')).toBe('changed in 2');
    expect((await stat(file(1))).ino).not.toBe((await stat(file(2))).ino);
    expect(ctx.failure).toBeUndefined();
  });

  it('installs afresh when the lockfile changed, saying why', async () => {
    await installRelease(1, { 'package-lock.json': 'lock v1' }, NPM_LIKE);
    await installRelease(2, { 'package-lock.json': 'lock v2' }, NPM_LIKE);
    expect(await depOf(2)).toBe('2\n');
    expect(await runs()).toBe(2);
    expect(fx.output()).toContain('installing afresh: package-lock.json changed since releases/1');
  });

  it("installs afresh when the runtime's version changed", async () => {
    await installRelease(1, { 'package-lock.json': 'lock' }, NPM_LIKE, { node: '20.11.1' });
    await installRelease(2, { 'package-lock.json': 'lock' }, NPM_LIKE, { node: '22.1.0' });
    expect(await depOf(2)).toBe('2\n');
    expect(fx.output()).toContain(
      'installing afresh: node changed from 20.11.1 to 22.1.0 since releases/1',
    );
  });

  it('installs afresh when the install commands changed', async () => {
    await installRelease(1, { 'package-lock.json': 'lock' }, NPM_LIKE);
    const other = { install: [...NPM_LIKE.install, 'true'] };
    await installRelease(2, { 'package-lock.json': 'lock' }, other);
    expect(await depOf(2)).toBe('2\n');
    expect(fx.output()).toContain(
      'installing afresh: the install commands changed since releases/1',
    );
  });

  it('installs afresh when the manifest turns reuse off', async () => {
    await installRelease(1, { 'package-lock.json': 'lock' }, NPM_LIKE);
    await installRelease(
      2,
      { 'package-lock.json': 'lock' },
      { ...NPM_LIKE, reuseDependencies: false },
    );
    expect(await depOf(2)).toBe('2\n');
    expect(fx.output()).toContain('installing afresh: reuseDependencies is false');
  });

  it('installs afresh when the current release has no record of its dependencies', async () => {
    await installRelease(1, { 'package-lock.json': 'lock' }, NPM_LIKE);
    await rm(path.join(fx.appsDir, APP, 'releases/1', DEPENDENCIES_FILE));
    await installRelease(2, { 'package-lock.json': 'lock' }, NPM_LIKE);
    expect(await depOf(2)).toBe('2\n');
    expect(fx.output()).toContain(
      'releases/1 has no record of what its dependencies were installed from',
    );
  });

  it('runs the install each time for an app without a lockfile', async () => {
    await installRelease(1, {}, NPM_LIKE);
    await installRelease(2, {}, NPM_LIKE);
    expect(await depOf(2)).toBe('2\n');
    expect(await runs()).toBe(2);
    expect(fx.output()).not.toContain('reused');
  });
});
