import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { section, type StepFixture, stepFixture } from './install-step-fixture.js';
import { installCommandsStep } from './install-commands-step.js';

let fx: StepFixture;
beforeEach(async () => (fx = await stepFixture()));
afterEach(() => fx.close());

describe('installCommandsStep', () => {
  it('runs the install hooks and commands in the release, in order, each its own step', async () => {
    const ctx = await fx.context({
      manifest: section({
        hooks: { beforeInstall: ['echo before >> order'], afterInstall: ['echo after >> order'] },
        install: ['echo "install $FERRY_VERSION $HOME" >> order'],
      }),
    });
    await mkdir(ctx.paths.releaseDir, { recursive: true });
    await installCommandsStep.run(ctx);
    expect(ctx.failure).toBeUndefined();
    expect(await readFile(path.join(ctx.paths.releaseDir, 'order'), 'utf8')).toBe(
      `before\ninstall 2 ${fx.root}\nafter\n`,
    );
    expect(fx.reported().map(([name]) => name)).toEqual([
      'prepare',
      'before-install',
      'install',
      'after-install',
    ]);
  });

  it('stops at the first failing command, with its exit code', async () => {
    const ctx = await fx.context({
      manifest: section({ install: ['exit 4'], hooks: { afterInstall: ['touch never'] } }),
    });
    await mkdir(ctx.paths.releaseDir, { recursive: true });
    await installCommandsStep.run(ctx);
    expect(ctx.failure?.error).toBe('`exit 4` exited with code 4');
    expect(fx.reported().map(([name]) => name)).not.toContain('after-install');
  });
});
