import {
  appendFile,
  mkdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
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
  env: Record<string, string> = {},
): Promise<InstallContext> {
  const ctx = await fx.context({ version, manifest: section(manifest) });
  Object.assign(ctx.env, env);
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

  it.each([
    ['.npmrc', 'registry=https://a.example\n', 'registry=https://b.example\n'],
    ['package.json', '{"name":"a"}', '{"name":"a","overrides":{"x":"1"}}'],
  ])('installs afresh when %s changed, naming it', async (name, v1, v2) => {
    await installRelease(1, { 'package-lock.json': 'lock', [name]: v1 }, NPM_LIKE);
    await installRelease(2, { 'package-lock.json': 'lock', [name]: v2 }, NPM_LIKE);
    expect(await depOf(2)).toBe('2\n');
    expect(fx.output()).toContain(`installing afresh: ${name} changed since releases/1`);
  });

  it("installs afresh when the install's environment changed, keeping values out of the record", async () => {
    const lock = { 'package-lock.json': 'lock' };
    await installRelease(1, lock, NPM_LIKE, undefined, { NPM_TOKEN: 'secret-one' });
    await installRelease(2, lock, NPM_LIKE, undefined, { NPM_TOKEN: 'secret-one' });
    expect(fx.output()).toContain('reused node_modules from releases/1');
    const ctx = await installRelease(3, lock, NPM_LIKE, undefined, { NPM_TOKEN: 'secret-two' });
    expect(await depOf(3)).toBe('3\n');
    expect(fx.output()).toContain(
      "installing afresh: the install's environment changed (NPM_TOKEN) since releases/2",
    );
    const record = await readFile(path.join(ctx.paths.releaseDir, DEPENDENCIES_FILE), 'utf8');
    expect(record).toContain('NPM_TOKEN');
    expect(record).not.toContain('secret-two');
    expect((await stat(path.join(ctx.paths.releaseDir, DEPENDENCIES_FILE))).mode & 0o077).toBe(0);
  });

  it('installs afresh when the install commands also made something beside node_modules', async () => {
    const build = {
      install: [...NPM_LIKE.install, 'mkdir -p dist && echo "$FERRY_VERSION" > dist/app.js'],
    };
    const v1 = await installRelease(1, { 'package-lock.json': 'lock' }, build);
    expect((await readDependencyKey(v1.paths.releaseDir))?.madeByInstall).toEqual(['dist/']);
    const v2 = await installRelease(2, { 'package-lock.json': 'lock' }, build);
    expect(fx.output()).toContain('installing afresh: the install commands also made dist/');
    expect(await readFile(path.join(v2.paths.releaseDir, 'dist/app.js'), 'utf8')).toBe('2\n');
    expect(await runs()).toBe(2);
  });

  it('installs afresh when the install changed a file of the release', async () => {
    const config = { install: [...NPM_LIKE.install, 'echo "port=$FERRY_VERSION" >> app.conf'] };
    await installRelease(1, { 'package-lock.json': 'lock', 'app.conf': '' }, config);
    const v2 = await installRelease(2, { 'package-lock.json': 'lock', 'app.conf': '' }, config);
    expect(fx.output()).toContain('installing afresh: the install commands also made app.conf');
    expect(await readFile(path.join(v2.paths.releaseDir, 'app.conf'), 'utf8')).toBe('port=2\n');
  });

  it('installs afresh when the install made a node_modules below the top one', async () => {
    const nested = {
      install: [
        ...NPM_LIKE.install,
        'mkdir -p client/node_modules/x && touch client/node_modules/x/i.js',
      ],
    };
    const files = { 'package-lock.json': 'lock', 'client/package.json': '{}' };
    await installRelease(1, files, nested);
    const v2 = await installRelease(2, files, nested);
    expect(fx.output()).toContain(
      'installing afresh: the install commands also made client/node_modules/',
    );
    expect(
      (await stat(path.join(v2.paths.releaseDir, 'client/node_modules/x/i.js'))).isFile(),
    ).toBe(true);
  });

  it("installs afresh when the current release's node_modules is a symlink", async () => {
    await installRelease(1, { 'package-lock.json': 'lock' }, NPM_LIKE);
    const modules = path.join(fx.appsDir, APP, 'releases/1/node_modules');
    const shared = path.join(fx.root, 'shared-node_modules');
    await rename(modules, shared);
    await symlink(shared, modules);
    await installRelease(2, { 'package-lock.json': 'lock' }, NPM_LIKE);
    expect(await depOf(2)).toBe('2\n');
    expect(fx.output()).toContain(
      'installing afresh: the node_modules of releases/1 is not a folder of its own (a symlink)',
    );
  });

  it('removes a record the bundle shipped, and leaves node_modules/.cache behind', async () => {
    const withCache = {
      install: [...NPM_LIKE.install, 'mkdir -p node_modules/.cache && touch node_modules/.cache/c'],
    };
    await installRelease(1, { 'package-lock.json': 'lock' }, withCache);
    const v2 = await installRelease(2, { 'package-lock.json': 'lock' }, withCache);
    expect(fx.output()).toContain('reused node_modules from releases/1');
    await expect(stat(path.join(v2.paths.releaseDir, 'node_modules/.cache'))).rejects.toThrow();
    // A bundle without a lockfile that ships a record: nothing of the agent's stays.
    const shipped = await readFile(path.join(v2.paths.releaseDir, DEPENDENCIES_FILE), 'utf8');
    const v3 = await installRelease(3, { [DEPENDENCIES_FILE]: shipped }, NPM_LIKE);
    await expect(stat(path.join(v3.paths.releaseDir, DEPENDENCIES_FILE))).rejects.toThrow();
  });
});
