import { mkdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { APP, type StepFixture, stepFixture } from './install-step-fixture.js';
import { switchStep } from './switch-step.js';

let fx: StepFixture;
beforeEach(async () => (fx = await stepFixture()));
afterEach(() => fx.close());

describe('switchStep', () => {
  it('marks a fresh release installed, writes down what ran before, then points current at it', async () => {
    await fx.installed(1, {});
    const ctx = await fx.context();
    await mkdir(ctx.paths.releaseDir, { recursive: true });
    await switchStep.run(ctx);
    expect(ctx.switched).toBe(true);
    expect(await readlink(path.join(fx.appsDir, APP, 'current'))).toBe('releases/2');
    expect(await readFile(path.join(ctx.paths.releaseDir, '.ferry-installed'), 'utf8')).toBe(
      `${ctx.job.sha256}\n`,
    );
    expect(fx.remembered).toEqual(['previous 1']);
    expect(fx.output()).toContain('current -> releases/2 (was 1)');
  });

  it('does not apply to a restart or after a failure', async () => {
    const ctx = await fx.context();
    ctx.mode = 'restart';
    expect(switchStep.applies(ctx)).toBe(false);
    ctx.mode = 'fresh';
    ctx.failure = { error: 'x' };
    expect(switchStep.applies(ctx)).toBe(false);
  });
});
