import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fetchStep } from './fetch-step.js';
import { type StepFixture, stepFixture } from './install-step-fixture.js';

let fx: StepFixture;
beforeEach(async () => (fx = await stepFixture()));
afterEach(() => fx.close());

describe('fetchStep', () => {
  it('takes the bundle from the cache by sha256, saying so', async () => {
    const bundle = await fx.bundle({ 'ferry.yml': 'apps:\n  cart: {}\n', 'a.txt': 'a' });
    const ctx = await fx.context(bundle);
    expect(fetchStep.applies(ctx)).toBe(true);
    await fetchStep.run(ctx);
    expect(ctx.failure).toBeUndefined();
    expect(ctx.archive).toMatch(new RegExp(`${bundle.sha256}\\.tar\\.gz$`));
    expect(fx.reported()).toEqual([
      ['prepare', true],
      ['fetch', true],
    ]);
    expect(fx.output()).toContain('cached:');
  });

  it('fails with the reason when the server cannot be reached', async () => {
    const ctx = await fx.context({ sha256: 'e'.repeat(64) });
    await fetchStep.run(ctx);
    expect(ctx.failure?.error).toContain('cannot reach');
  });

  it('applies to a fresh install only, and not after a failure', async () => {
    const ctx = await fx.context();
    for (const mode of ['reuse', 'restart', 'resume-revert'] as const) {
      ctx.mode = mode;
      expect(fetchStep.applies(ctx)).toBe(false);
    }
    ctx.mode = 'fresh';
    ctx.failure = { error: 'earlier' };
    expect(fetchStep.applies(ctx)).toBe(false);
  });
});
