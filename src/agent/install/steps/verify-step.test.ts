import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fetchStep } from './fetch-step.js';
import { type StepFixture, stepFixture } from './install-step-fixture.js';
import { verifyStep } from './verify-step.js';

let fx: StepFixture;
beforeEach(async () => (fx = await stepFixture()));
afterEach(() => fx.close());

describe('verifyStep', () => {
  it('passes a bundle whose sha256 is the job’s', async () => {
    const bundle = await fx.bundle({ 'ferry.yml': 'apps:\n  cart: {}\n' });
    const ctx = await fx.context(bundle);
    await fetchStep.run(ctx);
    await verifyStep.run(ctx);
    expect(ctx.failure).toBeUndefined();
    expect(fx.output()).toContain(`sha256 ${bundle.sha256} ok`);
  });

  it('fails on a sha256 that differs, and removes the file', async () => {
    const bundle = await fx.bundle({ 'ferry.yml': 'apps:\n  cart: {}\n' });
    const fetched = await fx.context(bundle);
    await fetchStep.run(fetched);
    const ctx = await fx.context({ ...bundle, sha256: 'f'.repeat(64) });
    ctx.archive = fetched.archive;
    await verifyStep.run(ctx);
    expect(ctx.failure?.error).toContain(`is not the expected ${'f'.repeat(64)}`);
    await expect(readFile(fetched.archive)).rejects.toThrow();
  });
});
