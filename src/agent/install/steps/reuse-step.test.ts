import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type StepFixture, stepFixture } from './install-step-fixture.js';
import { reuseStep } from './reuse-step.js';

let fx: StepFixture;
beforeEach(async () => (fx = await stepFixture()));
afterEach(() => fx.close());

describe('reuseStep', () => {
  it('says the release is on the host, and applies to a reuse only', async () => {
    const ctx = await fx.context();
    expect(reuseStep.applies(ctx)).toBe(false);
    ctx.mode = 'reuse';
    expect(reuseStep.applies(ctx)).toBe(true);
    await reuseStep.run(ctx);
    expect(fx.reported().at(-1)).toEqual(['reuse', true]);
    expect(fx.output()).toContain('releases/2 is on this host');
  });
});
