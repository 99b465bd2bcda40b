import { readlink } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { section, type StepFixture, stepFixture } from './install-step-fixture.js';
import { revertStep } from './revert-step.js';

let fx: StepFixture;
beforeEach(async () => (fx = await stepFixture()));
afterEach(() => fx.close());

describe('revertStep', () => {
  it('switches back and restarts the previous release with its own settings', async () => {
    await fx.installed(1, section({ service: { command: 'node old.js', env: { MARK: 'old' } } }));
    await fx.installed(2, {});
    const ctx = await fx.context(
      { manifest: section({ service: { command: 'node new.js' } }) },
      { previous: 1 },
    );
    ctx.revertFor = { error: 'health check failed: 503', unrecorded: null };
    expect(revertStep.applies(ctx)).toBe(true);
    await revertStep.run(ctx);
    expect(await readlink(ctx.paths.currentLink)).toBe('releases/1');
    expect(fx.driver.specs.map((s) => [s.command, s.env.MARK, s.env.FERRY_VERSION])).toEqual([
      ['node old.js', 'old', '1'],
    ]);
    expect(ctx.rolledBack).toBe(true);
    expect(ctx.failure?.error).toBe('health check failed: 503');
    expect(fx.reported().map(([name]) => name)).toEqual([
      'prepare',
      'rollback',
      'restart-previous',
    ]);
  });

  it('resumes going back after a crash, and says the previous release failed too when it does', async () => {
    await fx.installed(1, section({ service: { command: 'node old.js' } }));
    await fx.installed(2, {});
    const ctx = await fx.context({}, { previous: 1, reverting: { error: 'boom' } });
    expect(ctx.mode).toBe('resume-revert');
    fx.driver.failRestart = true;
    await revertStep.run(ctx);
    expect(ctx.failure?.error).toBe(
      'boom (the agent stopped while going back and resumed doing so); the previous release failed too: cannot start',
    );
    expect(await readlink(ctx.paths.currentLink)).toBe('releases/1');
  });

  it('does not apply while the install goes on, or once it has failed', async () => {
    const ctx = await fx.context();
    expect(revertStep.applies(ctx)).toBe(false);
    ctx.revertFor = { error: 'x', unrecorded: null };
    ctx.failure = { error: 'x' };
    expect(revertStep.applies(ctx)).toBe(false);
  });
});
