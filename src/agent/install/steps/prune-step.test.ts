import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { APP, section, type StepFixture, stepFixture } from './install-step-fixture.js';
import { pruneStep } from './prune-step.js';

let fx: StepFixture;
beforeEach(async () => (fx = await stepFixture()));
afterEach(() => fx.close());

describe('pruneStep', () => {
  it('keeps keepReleases, the new and the previous release, and the bundles they came from', async () => {
    for (const v of [1, 2, 3, 4, 5]) await fx.installed(v, {}, v === 5);
    const ctx = await fx.context(
      { version: 5, manifest: section({ keepReleases: 2 }) },
      { previous: 1 },
    );
    const cache = path.join(fx.root, 'agent', 'cache');
    await mkdir(cache, { recursive: true });
    const kept = `${'1'.repeat(64)}.tar.gz`;
    const stale = `${'9'.repeat(64)}.tar.gz`;
    for (const file of [kept, stale]) await writeFile(path.join(cache, file), '');
    ctx.switched = true;
    expect(pruneStep.applies(ctx)).toBe(true);
    await pruneStep.run(ctx);
    expect((await readdir(path.join(fx.appsDir, APP, 'releases'))).sort()).toEqual(['1', '4', '5']);
    expect(await readdir(cache)).toEqual([kept]);
  });

  it('applies when current was touched: switched, resumed going back, or a re-run after the switch', async () => {
    const ctx = await fx.context();
    expect(pruneStep.applies(ctx)).toBe(false);
    ctx.mode = 'resume-revert';
    expect(pruneStep.applies(ctx)).toBe(true);
    ctx.mode = 'restart';
    expect(pruneStep.applies(ctx)).toBe(false);
    const resumed = await fx.context({}, { previous: 1 });
    resumed.mode = 'restart';
    expect(pruneStep.applies(resumed)).toBe(true);
  });
});
