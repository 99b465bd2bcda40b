import { readFile, stat } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { healthFile, healthStep } from './health-step.js';
import { section, type StepFixture, stepFixture } from './install-step-fixture.js';

let fx: StepFixture;
beforeEach(async () => (fx = await stepFixture()));
afterEach(() => fx.close());

describe('healthStep', () => {
  it('checks the release, runs afterStart and validate, and remembers the check (mode 0600)', async () => {
    await fx.installed(2, {});
    const ctx = await fx.context({
      manifest: section({
        health: { command: 'test -n "$FERRY_RELEASE_DIR"', timeout: '5s', interval: '100ms' },
        hooks: { afterStart: ['true'], validate: ['true'] },
      }),
    });
    await healthStep.run(ctx);
    expect(ctx.failure).toBeUndefined();
    expect(ctx.revertFor).toBeUndefined();
    expect(fx.reported().map(([name]) => name)).toEqual([
      'prepare',
      'health',
      'after-start',
      'validate',
    ]);
    const file = healthFile(ctx.host.stateDir, ctx.job.app);
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ version: 2 });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('a failed check sends the install back to the previous release', async () => {
    await fx.installed(1, {});
    const ctx = await fx.context({
      manifest: section({ health: { command: 'exit 1', timeout: '300ms', interval: '100ms' } }),
    });
    await healthStep.run(ctx);
    expect(ctx.revertFor?.error).toContain('health check failed');
    expect(fx.reported().at(-1)).toEqual(['health', false]);
  });
});
