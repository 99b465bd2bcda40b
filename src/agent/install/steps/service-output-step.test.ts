import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeReleaseSnapshot } from '../release-snapshot.js';
import { SECRET_MASK } from '../secret-masker.js';
import { serviceLogs } from '../service-logs.js';
import { healthStep } from './health-step.js';
import { APP, section, type StepFixture, stepFixture } from './install-step-fixture.js';
import { recordServiceOutput, SERVICE_OUTPUT_MAX } from './service-output-step.js';
import { startStep } from './start-step.js';

let fx: StepFixture;
beforeEach(async () => (fx = await stepFixture()));
afterEach(() => fx.close());

const service = { command: 'python3 app.py' };

/** Appends to the service's logs of release 2, as every process driver does. */
async function serviceWrote(stdout: string | null, stderr: string | null): Promise<void> {
  const logs = serviceLogs(path.join(fx.appsDir, APP), 2);
  await mkdir(logs.dir, { recursive: true });
  if (stdout !== null) await appendFile(logs.stdoutFile, stdout);
  if (stderr !== null) await appendFile(logs.stderrFile, stderr);
}

/** A context for release 2 with `manifest`, its service started (by the fixture's driver). */
async function started(
  manifest: Record<string, unknown>,
  job: Record<string, unknown> = {},
): Promise<Awaited<ReturnType<StepFixture['context']>>> {
  const ctx = await fx.context({ manifest, ...job });
  await startStep.run(ctx);
  expect(ctx.failure).toBeUndefined();
  return ctx;
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
    const ctx = await started(
      section({
        service,
        health: { command: 'true', timeout: '5s', interval: '100ms' },
        hooks: { afterStart: ['true'] },
      }),
    );
    await serviceWrote(
      'listening on :8000\n',
      'app.py:3: DeprecationWarning: datetime.utcnow() is deprecated\n',
    );
    await healthStep.run(ctx);
    expect(ctx.failure).toBeUndefined();
    expect(fx.reported()).toEqual([
      ['prepare', true],
      ['start', true],
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
    const ctx = await started(section({ service }));
    await serviceWrote(line.repeat(2000), null);
    expect(await recordServiceOutput(ctx)).toEqual({ ok: true, error: null });
    const out = streamOf('stdout');
    expect(out.length).toBeLessThanOrEqual(SERVICE_OUTPUT_MAX);
    expect(out).toBe(line.repeat(Math.floor(SERVICE_OUTPUT_MAX / line.length)));
    expect(streamOf('stderr')).toBe('');
  });

  it('succeeds with nothing when the service wrote no log, and says so when a log cannot be read', async () => {
    await fx.installed(2, {});
    const ctx = await started(section({ service }));
    expect(await recordServiceOutput(ctx)).toEqual({ ok: true, error: null });
    expect(fx.reported().at(-1)).toEqual(['service-output', true]);
    expect(streamOf('stdout') + streamOf('stderr')).toBe('');
    // A folder where the log should be: reading it fails, the step does not.
    const logs = serviceLogs(path.join(fx.appsDir, APP), 2);
    await mkdir(logs.stdoutFile, { recursive: true });
    expect(await recordServiceOutput(ctx)).toEqual({ ok: true, error: null });
    expect(streamOf('stderr')).toContain(`cannot read ${logs.stdoutFile}`);
  });

  it('leaves out the rest of a line the process before was writing when this start began', async () => {
    await fx.installed(2, {});
    // The old process is half-way through a line, in the middle of an old secret, when the size is noted.
    await serviceWrote('booting\nconnecting to postgres://app:old-pa', null);
    const ctx = await started(section({ service }), {
      vars: { DB_PASSWORD: 'n3w-s3cret-pass' },
      secrets: ['DB_PASSWORD'],
    });
    await serviceWrote('ss-1@db\nlistening on :8000\n', null);
    expect(await recordServiceOutput(ctx)).toEqual({ ok: true, error: null });
    expect(streamOf('stdout')).toBe('listening on :8000\n');
    expect(fx.output()).not.toContain('ss-1');
  });

  it('records only what this start wrote: an earlier start’s lines and its old secret stay out', async () => {
    // The version ran before with another password, which its first start printed.
    await fx.installed(2, {});
    await serviceWrote('connecting to postgres://app:old-pass-1@db\n', 'old warning\n');
    // The secret was rotated (`ferry vars set DB_PASSWORD=… --secret`) and the same version redeployed.
    const ctx = await started(section({ service }), {
      vars: { DB_PASSWORD: 'n3w-s3cret-pass' },
      secrets: ['DB_PASSWORD'],
    });
    await serviceWrote('connecting to postgres://app:n3w-s3cret-pass@db\n', null);
    expect(await recordServiceOutput(ctx)).toEqual({ ok: true, error: null });
    expect(streamOf('stdout')).toBe(`connecting to postgres://app:${SECRET_MASK}@db\n`);
    expect(streamOf('stderr')).toBe('');
    expect(fx.output()).not.toContain('old-pass-1');
    expect(fx.output()).not.toContain('n3w-s3cret');
  });

  it('masks the secrets the release ran with before: the old process stopping writes them in this start’s log', async () => {
    const release = await fx.installed(2, {});
    await writeReleaseSnapshot(release, {
      version: 2,
      installId: 'ins_0',
      deploymentId: null,
      vars: { DB_PASSWORD: 'old-pass-1', PORT: '8000' },
      secrets: ['DB_PASSWORD'],
      writtenAt: '2026-12-01T00:00:00.000Z',
    });
    const ctx = await started(section({ service }), {
      vars: { DB_PASSWORD: 'n3w-s3cret-pass' },
      secrets: ['DB_PASSWORD'],
    });
    // Written after the start step noted the log's size: the old process saying goodbye.
    await serviceWrote('closing postgres://app:old-pass-1@db on port 8000\n', null);
    expect(await recordServiceOutput(ctx)).toEqual({ ok: true, error: null });
    expect(streamOf('stdout')).toBe(`closing postgres://app:${SECRET_MASK}@db on port 8000\n`);
    expect(fx.output()).not.toContain('old-pass-1');
  });

  it('never sends part of a line: not one cut by the cap, nor one still being written', async () => {
    const secret = 'n3w-s3cret-pass';
    await fx.installed(2, {});
    const ctx = await started(section({ service }), {
      vars: { DB_PASSWORD: secret },
      secrets: ['DB_PASSWORD'],
    });
    // The cap falls inside the secret, on a line longer than the cap.
    const long = `${'x'.repeat(SERVICE_OUTPUT_MAX - 100)}password=${secret}${'y'.repeat(200)}\n`;
    expect(long.indexOf(secret)).toBeLessThan(SERVICE_OUTPUT_MAX - 3);
    expect(long.indexOf(secret) + secret.length).toBeGreaterThan(SERVICE_OUTPUT_MAX - 100);
    await serviceWrote(`ready\n${long}after\n`, `ready\npassword=${secret.slice(0, 7)}`);
    expect(await recordServiceOutput(ctx)).toEqual({ ok: true, error: null });
    expect(streamOf('stdout')).toBe('ready\n');
    // The service is still writing its last line: what there is of it waits.
    expect(streamOf('stderr')).toBe('ready\n');
    expect(fx.output()).not.toContain(secret.slice(0, 4));
  });

  it('sends a single line longer than the cap not at all, and never half a UTF-8 character', async () => {
    await fx.installed(2, {});
    const ctx = await started(section({ service }));
    // '€' is three bytes: the cap falls inside one, on a line with no end within it.
    const euros = '€'.repeat(Math.ceil(SERVICE_OUTPUT_MAX / 3) + 10);
    expect(SERVICE_OUTPUT_MAX % 3).not.toBe(0);
    await serviceWrote(`${euros}\n`, 'température 21 °C ✓\n');
    expect(await recordServiceOutput(ctx)).toEqual({ ok: true, error: null });
    expect(streamOf('stdout')).toBe('');
    expect(streamOf('stderr')).toBe('température 21 °C ✓\n');
    expect(fx.output()).not.toContain('\uFFFD');
  });

  it('reads a log emptied since the start (rotated by copy and truncate) from its beginning', async () => {
    await fx.installed(2, {});
    await serviceWrote('an earlier start\n'.repeat(10), null);
    const ctx = await started(section({ service }));
    const logs = serviceLogs(path.join(fx.appsDir, APP), 2);
    await writeFile(logs.stdoutFile, 'after the rotation\n');
    expect(await recordServiceOutput(ctx)).toEqual({ ok: true, error: null });
    expect(streamOf('stdout')).toBe('after the rotation\n');
  });

  it('is no step at all for an app without a service', async () => {
    await fx.installed(2, {});
    const ctx = await fx.context({ manifest: section() });
    await recordServiceOutput(ctx);
    expect(fx.reported()).toEqual([['prepare', true]]);
  });
});
