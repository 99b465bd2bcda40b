import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { APP, section, type StepFixture, stepFixture } from './install-step-fixture.js';
import { startStep } from './start-step.js';

let fx: StepFixture;
beforeEach(async () => (fx = await stepFixture()));
afterEach(() => fx.close());

const SERVICE = section({
  service: { command: 'node server.js', env: { CART_PORT: '${PORT}' } },
  hooks: { beforeStart: ['echo started-before > before'] },
});

describe('startStep', () => {
  it('runs beforeStart in current, then restarts the service with the release’s environment', async () => {
    await fx.installed(2, {});
    const ctx = await fx.context({ manifest: SERVICE, vars: { PORT: '8123' } });
    await startStep.run(ctx);
    expect(ctx.failure).toBeUndefined();
    expect(await readFile(path.join(ctx.paths.currentLink, 'before'), 'utf8')).toBe(
      'started-before\n',
    );
    expect(fx.driver.calls).toEqual([`restart ${APP} 2`]);
    const spec = fx.driver.specs[0]!;
    expect(spec).toMatchObject({ command: 'node server.js', cwd: ctx.paths.currentLink });
    expect(spec.env).toMatchObject({ CART_PORT: '8123', FERRY_VERSION: '2' });
    expect(spec.stdoutFile).toBe(path.join(fx.appsDir, APP, 'logs', '2', 'service.stdout.log'));
  });

  it('runs the service with Python unbuffered unless its service.env says otherwise', async () => {
    // Python buffers stdout written to a file: a service's log would stay empty while it runs.
    await fx.installed(2, {});
    const ctx = await fx.context({ manifest: SERVICE, vars: { PORT: '8123' } });
    await startStep.run(ctx);
    expect(fx.driver.specs[0]!.env.PYTHONUNBUFFERED).toBe('1');

    const buffered = await fx.context({
      manifest: section({ service: { command: 'python3 app.py', env: { PYTHONUNBUFFERED: '' } } }),
    });
    await startStep.run(buffered);
    expect(fx.driver.specs[1]!.env.PYTHONUNBUFFERED).toBe('');
  });

  it('a first install that cannot start stops what it started and fails', async () => {
    // No `current` yet, so no beforeStart hook to run in it.
    const ctx = await fx.context({
      manifest: section({ service: { command: 'node server.js' } }),
    });
    fx.driver.failRestart = true;
    await startStep.run(ctx);
    expect(ctx.failure?.error).toBe('cannot start');
    expect(ctx.revertFor).toBeUndefined();
    expect(fx.driver.calls).toEqual([`restart ${APP} 2`, `stop ${APP}`]);
  });

  it('with a release to go back to, writes down that it goes back and leaves it to the revert step', async () => {
    await fx.installed(1, {});
    const ctx = await fx.context({ manifest: SERVICE, vars: { PORT: '1' } });
    fx.driver.failRestart = true;
    await startStep.run(ctx);
    expect(ctx.failure).toBeUndefined();
    expect(ctx.revertFor).toEqual({ error: 'cannot start', unrecorded: null });
    expect(fx.remembered).toEqual(['reverting to 1: cannot start']);
  });
});
