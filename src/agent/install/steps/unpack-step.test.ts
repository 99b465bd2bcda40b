import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fetchStep } from './fetch-step.js';
import { APP, type StepFixture, stepFixture } from './install-step-fixture.js';
import { unpackStep } from './unpack-step.js';

let fx: StepFixture;
beforeEach(async () => (fx = await stepFixture()));
afterEach(() => fx.close());

describe('unpackStep', () => {
  it('unpacks the bundle into releases/<version>, replacing what was there', async () => {
    const bundle = await fx.bundle({ 'ferry.yml': 'apps:\n  cart: {}\n', 'src/a.txt': 'A' });
    const ctx = await fx.context(bundle);
    await fx.installed(2, {}, false); // a leftover of an earlier attempt
    await fetchStep.run(ctx);
    await unpackStep.run(ctx);
    expect(ctx.failure).toBeUndefined();
    expect(ctx.unpacked).toBe(true);
    const release = path.join(fx.appsDir, APP, 'releases', '2');
    expect(await readFile(path.join(release, 'src/a.txt'), 'utf8')).toBe('A');
    await expect(readFile(path.join(release, '.ferry-installed'))).rejects.toThrow();
    expect(fx.output()).toMatch(/\d+ entries unpacked/);
  });

  it('fails on an archive that is not the bundle, leaving the release unmarked as unpacked', async () => {
    const ctx = await fx.context();
    ctx.archive = path.join(fx.root, 'missing.tar.gz');
    await unpackStep.run(ctx);
    expect(ctx.failure).toBeDefined();
    expect(ctx.unpacked).toBe(false);
  });
});
