import { mkdir, readlink, symlink } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { APP, section, type StepFixture, stepFixture } from './install-step-fixture.js';
import { linkSharedStep } from './link-shared-step.js';

let fx: StepFixture;
beforeEach(async () => (fx = await stepFixture()));
afterEach(() => fx.close());

describe('linkSharedStep', () => {
  it('links the shared paths of the new release to <app>/shared', async () => {
    const ctx = await fx.context({ manifest: section({ shared: ['data/'] }) });
    await mkdir(ctx.paths.releaseDir, { recursive: true });
    await linkSharedStep.run(ctx);
    expect(ctx.failure).toBeUndefined();
    const link = await readlink(path.join(ctx.paths.releaseDir, 'data'));
    expect(path.resolve(ctx.paths.releaseDir, link)).toBe(
      path.join(fx.appsDir, APP, 'shared', 'data'),
    );
  });

  it('fails the install, naming the entry, when a shared path walks through a link', async () => {
    const ctx = await fx.context({ manifest: section({ shared: ['x/a/'] }) });
    await mkdir(path.join(ctx.paths.releaseDir, 'real/a'), { recursive: true });
    await symlink('real', path.join(ctx.paths.releaseDir, 'x'));
    await linkSharedStep.run(ctx);
    expect(ctx.failure?.error).toContain('"x/a/"');
    expect(fx.reported().at(-1)).toEqual(['link-shared', false]);
  });
});
