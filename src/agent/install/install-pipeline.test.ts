import { readFile, readlink } from 'node:fs/promises';
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
});
