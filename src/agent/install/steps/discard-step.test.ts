import { access, mkdir } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { discardStep } from './discard-step.js';
import { type StepFixture, stepFixture } from './install-step-fixture.js';

let fx: StepFixture;
beforeEach(async () => (fx = await stepFixture()));
afterEach(() => fx.close());

describe('discardStep', () => {
  it('removes the release this install unpacked when it failed before the switch', async () => {
    const ctx = await fx.context();
    await mkdir(ctx.paths.releaseDir, { recursive: true });
    ctx.unpacked = true;
    expect(discardStep.applies(ctx)).toBe(false);
    ctx.failure = { error: 'install failed' };
    expect(discardStep.applies(ctx)).toBe(true);
    await discardStep.run(ctx);
    await expect(access(ctx.paths.releaseDir)).rejects.toThrow();
  });

  it('never removes a release it did not unpack (a reused one), or one switched to', async () => {
    const ctx = await fx.context();
    ctx.failure = { error: 'migration failed' };
    expect(discardStep.applies(ctx)).toBe(false);
    ctx.unpacked = true;
    ctx.switched = true;
    expect(discardStep.applies(ctx)).toBe(false);
  });
});
