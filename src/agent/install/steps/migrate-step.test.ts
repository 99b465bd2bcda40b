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
});
