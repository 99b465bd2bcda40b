import { access, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { INSTALL_STEPS, runInstall } from './install-pipeline.js';
import { APP, type StepFixture, stepFixture } from './steps/install-step-fixture.js';
import type { InstallStep } from './steps/install-step.js';

let fx: StepFixture;
beforeEach(async () => (fx = await stepFixture()));
afterEach(() => fx.close());

const TREE = {
  'ferry.yml': [
    'apps:',
    '  cart:',
    '    install: [echo installed > installed.txt]',
    '    migrate: [echo migrated >> data/log]',
    '    shared: [data/]',
    '    health: { command: "test -f installed.txt", timeout: 5s, interval: 100ms }',
    '',
  ].join('\n'),
};

async function install(job: object, pipeline?: readonly InstallStep[]) {
  const ctx = await fx.context(job); // only for its job, host and reporter
  fx.events.length = 0;
  return runInstall(ctx.job, ctx.host, ctx.steps, ctx.memory, pipeline);
}

describe('runInstall', () => {
  it('runs the steps an install needs, in order, migrating when the job asks', async () => {
    const bundle = await fx.bundle(TREE);
    const result = await install({ ...bundle, version: 1, migrate: true });
    expect(result).toEqual({ ok: true, rolledBack: false, error: null });
    expect(fx.reported().map(([name]) => name)).toEqual([
      'prepare',
      'fetch',
      'verify',
      'unpack',
      'link-shared',
      'install',
      'migrate',
      'switch',
      'health',
      'prune',
    ]);
    const appDir = path.join(fx.appsDir, APP);
    expect(await readlink(path.join(appDir, 'current'))).toBe('releases/1');
    expect(await readFile(path.join(appDir, 'shared', 'data', 'log'), 'utf8')).toBe('migrated\n');
  });

  it('lets a new step slot in without touching the others', async () => {
    const bundle = await fx.bundle(TREE);
    const seen: string[] = [];
    const requirements: InstallStep = {
      name: 'requirements',
      applies: (ctx) => ctx.mode === 'fresh' && ctx.failure === undefined,
      run: async (ctx) => {
        await ctx.steps.step('requirements', (context) => {
          seen.push(ctx.paths.releaseDir);
          context.out('node is there\n');
          return Promise.resolve();
        });
      },
    };
    const at = INSTALL_STEPS.findIndex((s) => s.name === 'fetch');
    const pipeline = [...INSTALL_STEPS.slice(0, at), requirements, ...INSTALL_STEPS.slice(at)];
    expect((await install({ ...bundle, version: 1 }, pipeline)).ok).toBe(true);
    expect(
      fx
        .reported()
        .map(([name]) => name)
        .slice(0, 3),
    ).toEqual(['prepare', 'requirements', 'fetch']);
    expect(seen).toHaveLength(1);
  });

  it('a failed migration leaves current where it was, and the new release gone', async () => {
    const good = await fx.bundle(TREE);
    expect((await install({ ...good, version: 1, migrate: true })).ok).toBe(true);
    const bad = await fx.bundle({
      'ferry.yml': TREE['ferry.yml'].replace('echo migrated', 'false'),
    });
    const result = await install({ ...bad, version: 2, migrate: true });
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/^migration failed: /);
    expect(fx.reported().map(([name]) => name)).toEqual([
      'prepare',
      'fetch',
      'verify',
      'unpack',
      'link-shared',
      'install',
      'migrate',
    ]);
    const appDir = path.join(fx.appsDir, APP);
    expect(await readlink(path.join(appDir, 'current'))).toBe('releases/1');
    await expect(readlink(path.join(appDir, 'releases', '2'))).rejects.toThrow();
  });

  describe('runs only the manifest the signed bundle carries', () => {
    // A correctly signed job (sha256, label and commit untouched) whose manifest
    // section was changed in the server's store: the signature does not cover
    // it, the bundle's own ferry-bundle.json does.
    const marker = () => path.join(fx.root, 'pwned');
    const tampered = (manifest: Record<string, unknown>) => ({
      ...manifest,
      install: [...(manifest.install as string[]), `touch ${marker()}`],
      hooks: { ...(manifest.hooks as object), beforeStart: [`touch ${marker()}`] },
    });

    it('refuses a fresh install whose manifest differs, before any command runs', async () => {
      const bundle = await fx.bundle(TREE);
      const result = await install({ ...bundle, version: 1, manifest: tampered(bundle.manifest) });
      expect(result.ok).toBe(false);
      expect(result.error).toMatch(
        /^refusing to run cart@1: the job's manifest differs from the one in the bundle \(ferry-bundle.json\)/,
      );
      expect(result.error).toContain(
        `hooks.beforeStart: the job has ["touch ${marker()}"], the bundle has []`,
      );
      expect(result.error).toContain(
        `install: the job has ["echo installed > installed.txt","touch ${marker()}"]`,
      );
      expect(fx.reported()).toEqual([
        ['prepare', true],
        ['fetch', true],
        ['verify', true],
        ['unpack', false],
      ]);
      await expect(access(marker())).rejects.toThrow();
      await expect(access(path.join(fx.appsDir, APP, 'releases', '1'))).rejects.toThrow();
    });

    it('refuses a rollback to a release on the host whose job manifest differs', async () => {
      const first = await fx.bundle(TREE);
      expect((await install({ ...first, version: 1 })).ok).toBe(true);
      const second = await fx.bundle({ ...TREE, 'two.txt': '2' });
      expect((await install({ ...second, version: 2 })).ok).toBe(true);
      // Back to 1: a reuse, no fetch; its record in the store was changed.
      const result = await install({ ...first, version: 1, manifest: tampered(first.manifest) });
      expect(result.ok).toBe(false);
      expect(result.error).toMatch(
        /^refusing to run cart@1: the job's manifest differs from the one in releases\/1 \(ferry-bundle.json\)/,
      );
      expect(fx.reported()).toEqual([
        ['prepare', true],
        ['reuse', true],
        ['verify', false],
      ]);
      await expect(access(marker())).rejects.toThrow();
      const appDir = path.join(fx.appsDir, APP);
      expect(await readlink(path.join(appDir, 'current'))).toBe('releases/2');
    });

    it('rolls back when the job manifest is the release’s own, checking the signature', async () => {
      const first = await fx.bundle(TREE);
      expect((await install({ ...first, version: 1 })).ok).toBe(true);
      const second = await fx.bundle({ ...TREE, 'two.txt': '2' });
      expect((await install({ ...second, version: 2 })).ok).toBe(true);
      const result = await install({ ...first, version: 1 });
      expect(result).toEqual({ ok: true, rolledBack: false, error: null });
      expect(fx.output()).toMatch(/signature by the server's key SHA256:\S+ ok/);
      expect(fx.output()).toContain(`the job's manifest is the one releases/1 was installed from`);
    });

    it('refuses a rollback job without a signature', async () => {
      const first = await fx.bundle(TREE);
      expect((await install({ ...first, version: 1 })).ok).toBe(true);
      const second = await fx.bundle({ ...TREE, 'two.txt': '2' });
      expect((await install({ ...second, version: 2 })).ok).toBe(true);
      const result = await install({ ...first, version: 1, signature: undefined });
      expect(result.error).toContain('the job carries no signature');
    });
  });
});
