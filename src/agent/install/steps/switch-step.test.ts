import { mkdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readReleaseSnapshot, snapshotOf, writeReleaseSnapshot } from '../release-snapshot.js';
import { APP, type StepFixture, stepFixture } from './install-step-fixture.js';
import { switchStep } from './switch-step.js';

let fx: StepFixture;
beforeEach(async () => (fx = await stepFixture()));
afterEach(() => fx.close());

describe('switchStep', () => {
  it('marks a fresh release installed, writes down what ran before, then points current at it', async () => {
    await fx.installed(1, {});
    const ctx = await fx.context();
    await mkdir(ctx.paths.releaseDir, { recursive: true });
    await switchStep.run(ctx);
    expect(ctx.switched).toBe(true);
    expect(await readlink(path.join(fx.appsDir, APP, 'current'))).toBe('releases/2');
    expect(await readFile(path.join(ctx.paths.releaseDir, '.ferry-installed'), 'utf8')).toBe(
      `${ctx.job.sha256}\n`,
    );
    expect(fx.remembered).toEqual(['previous 1']);
    expect(fx.output()).toContain('current -> releases/2 (was 1)');
  });

  it("gives the release this job's snapshot only once current points at it", async () => {
    const ctx = await fx.context();
    await mkdir(ctx.paths.releaseDir, { recursive: true });
    // The release ran before, with its own snapshot (going back to it reads that).
    const before = { ...snapshotOf(ctx.job, []), installId: 'ins_earlier' };
    await writeReleaseSnapshot(ctx.paths.releaseDir, before);
    // The fault: `current` cannot be replaced (a directory stands in its place).
    const current = path.join(fx.appsDir, APP, 'current');
    await rm(current, { recursive: true, force: true });
    await mkdir(path.join(current, 'in-the-way'), { recursive: true });
    await writeFile(path.join(current, 'in-the-way', 'file'), 'x');
    await switchStep.run(ctx);
    expect(ctx.switched).not.toBe(true);
    expect(ctx.failure).toBeDefined();
    // The server counts a failed switch as not having started the release: the host agrees.
    expect((await readReleaseSnapshot(ctx.paths.releaseDir))?.installId).toBe('ins_earlier');
  });

  it('does not apply to a restart or after a failure', async () => {
    const ctx = await fx.context();
    ctx.mode = 'restart';
    expect(switchStep.applies(ctx)).toBe(false);
    ctx.mode = 'fresh';
    ctx.failure = { error: 'x' };
    expect(switchStep.applies(ctx)).toBe(false);
  });
});
