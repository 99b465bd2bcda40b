import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { section, type StepFixture, stepFixture } from './install-step-fixture.js';
import { migrateStep } from './migrate-step.js';

let fx: StepFixture;
beforeEach(async () => (fx = await stepFixture()));
afterEach(() => fx.close());

const MIGRATING = section({ migrate: ['echo "migrated to $FERRY_VERSION" | tee -a log'] });

describe('migrateStep', () => {
  it('runs the migrate commands in the new release when the job asks, with their output', async () => {
    const ctx = await fx.context({ manifest: MIGRATING, migrate: true });
    await mkdir(ctx.paths.releaseDir, { recursive: true });
    expect(migrateStep.applies(ctx)).toBe(true);
    await migrateStep.run(ctx);
    expect(ctx.failure).toBeUndefined();
    expect(await readFile(path.join(ctx.paths.releaseDir, 'log'), 'utf8')).toBe('migrated to 2\n');
    expect(fx.reported().at(-1)).toEqual(['migrate', true]);
    expect(fx.output()).toContain('migrated to 2\n');
  });

  it('runs only when asked, with something to run, on the way in (fresh, reused or the running version again), never going back', async () => {
    expect(migrateStep.applies(await fx.context({ manifest: MIGRATING }))).toBe(false);
    expect(migrateStep.applies(await fx.context({ migrate: true }))).toBe(false);
    const ctx = await fx.context({ manifest: MIGRATING, migrate: true });
    for (const mode of ['reuse', 'restart'] as const) {
      ctx.mode = mode;
      expect(migrateStep.applies(ctx)).toBe(true);
    }
    ctx.mode = 'resume-revert';
    expect(migrateStep.applies(ctx)).toBe(false);
    ctx.mode = 'fresh';
    ctx.failure = { error: 'install failed' };
    expect(migrateStep.applies(ctx)).toBe(false);
  });

  it('fails the install, saying it was the migration', async () => {
    const ctx = await fx.context({ manifest: section({ migrate: ['exit 3'] }), migrate: true });
    await mkdir(ctx.paths.releaseDir, { recursive: true });
    await migrateStep.run(ctx);
    expect(ctx.failure?.error).toBe('migration failed: `exit 3` exited with code 3');
    expect(fx.reported().at(-1)).toEqual(['migrate', false]);
  });

  it('journals that the migrations began, then that they succeeded', async () => {
    const ctx = await fx.context({ manifest: MIGRATING, migrate: true });
    await mkdir(ctx.paths.releaseDir, { recursive: true });
    await migrateStep.run(ctx);
    expect(fx.remembered).toEqual(['migration began', 'migration succeeded']);
  });

  it('never runs them again in a job resumed after they succeeded (the agent stopped after the switch)', async () => {
    const ctx = await fx.context(
      { manifest: MIGRATING, migrate: true },
      { migration: 'succeeded' },
    );
    ctx.mode = 'restart';
    expect(migrateStep.applies(ctx)).toBe(false);
  });

  it('fails a job resumed after they began without running them again: they may have run in part', async () => {
    const ctx = await fx.context({ manifest: MIGRATING, migrate: true }, { migration: 'began' });
    await mkdir(ctx.paths.releaseDir, { recursive: true });
    expect(migrateStep.applies(ctx)).toBe(true);
    await migrateStep.run(ctx);
    expect(ctx.failure?.error).toBe(
      'migration failed: the agent stopped during the migrations of this install; ' +
        'they are not run again, as they may have run in part',
    );
    expect(fx.reported().at(-1)).toEqual(['migrate', false]);
    await expect(readFile(path.join(ctx.paths.releaseDir, 'log'), 'utf8')).rejects.toThrow();
    expect(fx.remembered).toEqual([]);
  });

  it('does not run them when it cannot journal that they began', async () => {
    const ctx = await fx.context(
      { manifest: MIGRATING, migrate: true },
      { rememberMigration: () => Promise.reject(new Error('ENOSPC: no space left on device')) },
    );
    await mkdir(ctx.paths.releaseDir, { recursive: true });
    await migrateStep.run(ctx);
    expect(ctx.failure?.error).toBe('migration failed: ENOSPC: no space left on device');
    await expect(readFile(path.join(ctx.paths.releaseDir, 'log'), 'utf8')).rejects.toThrow();
  });
});
