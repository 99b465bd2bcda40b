import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { serviceLogs } from '../service-logs.js';
import { healthStep } from './health-step.js';
import { APP, section, type StepFixture, stepFixture } from './install-step-fixture.js';
import { recordServiceOutput, SERVICE_OUTPUT_MAX } from './service-output-step.js';

let fx: StepFixture;
beforeEach(async () => (fx = await stepFixture()));
afterEach(() => fx.close());

const service = { command: 'python3 app.py' };

/** Writes the service's logs of release 2 as the process driver would. */
async function serviceWrote(stdout: string | null, stderr: string | null): Promise<void> {
  const logs = serviceLogs(path.join(fx.appsDir, APP), 2);
  await mkdir(logs.dir, { recursive: true });
  if (stdout !== null) await writeFile(logs.stdoutFile, stdout);
  if (stderr !== null) await writeFile(logs.stderrFile, stderr);
}

/** What the step wrote to one of its streams. */
function streamOf(stream: 'stdout' | 'stderr'): string {
  return fx.events
    .map((e) =>
      e.type === 'step.output' && e.step === 'service-output' && e.stream === stream ? e.text : '',
    )
    .join('');
}

describe('service-output step', () => {
  it("records the service's stdout and stderr so far, once its health check passed", async () => {
    await fx.installed(2, {});
    await serviceWrote(
      'listening on :8000\n',
      'app.py:3: DeprecationWarning: datetime.utcnow() is deprecated\n',
    );
    const ctx = await fx.context({
      manifest: section({
        service,
        health: { command: 'true', timeout: '5s', interval: '100ms' },
        hooks: { afterStart: ['true'] },
      }),
    });
    await healthStep.run(ctx);
    expect(ctx.failure).toBeUndefined();
    expect(fx.reported()).toEqual([
      ['prepare', true],
      ['health', true],
      ['service-output', true],
      ['after-start', true],
    ]);
    expect(streamOf('stdout')).toBe('listening on :8000\n');
    expect(streamOf('stderr')).toBe(
      'app.py:3: DeprecationWarning: datetime.utcnow() is deprecated\n',
    );
  });

  it('keeps the first 64 KiB of a large log, cut at a line', async () => {
    await fx.installed(2, {});
    const line = `${'x'.repeat(99)}\n`;
    await serviceWrote(line.repeat(2000), null);
    const ctx = await fx.context({ manifest: section({ service }) });
    expect(await recordServiceOutput(ctx)).toEqual({ ok: true, error: null });
    const out = streamOf('stdout');
    expect(out.length).toBeLessThanOrEqual(SERVICE_OUTPUT_MAX);
    expect(out).toBe(line.repeat(Math.floor(SERVICE_OUTPUT_MAX / line.length)));
    expect(streamOf('stderr')).toBe('');
  });

  it('succeeds with nothing when the service wrote no log, and says so when a log cannot be read', async () => {
    await fx.installed(2, {});
    const ctx = await fx.context({ manifest: section({ service }) });
    expect(await recordServiceOutput(ctx)).toEqual({ ok: true, error: null });
    expect(fx.reported().at(-1)).toEqual(['service-output', true]);
    // A folder where the log should be: reading it fails, the step does not.
    const logs = serviceLogs(path.join(fx.appsDir, APP), 2);
    await mkdir(logs.stdoutFile, { recursive: true });
    expect(await recordServiceOutput(ctx)).toEqual({ ok: true, error: null });
    expect(streamOf('stderr')).toContain(`cannot read ${logs.stdoutFile}`);
  });

  it('is no step at all for an app without a service', async () => {
    await fx.installed(2, {});
    const ctx = await fx.context({ manifest: section() });
    await recordServiceOutput(ctx);
    expect(fx.reported()).toEqual([['prepare', true]]);
  });
});
