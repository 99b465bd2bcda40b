import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fetchStep } from './fetch-step.js';
import { type StepFixture, stepFixture } from './install-step-fixture.js';
import { verifyStep } from './verify-step.js';

let fx: StepFixture;
beforeEach(async () => (fx = await stepFixture()));
afterEach(() => fx.close());

describe('verifyStep', () => {
  it('passes a bundle whose sha256 is the job’s', async () => {
    const bundle = await fx.bundle({ 'ferry.yml': 'apps:\n  cart: {}\n' });
    const ctx = await fx.context(bundle);
    await fetchStep.run(ctx);
    await verifyStep.run(ctx);
    expect(ctx.failure).toBeUndefined();
    expect(fx.output()).toContain(`sha256 ${bundle.sha256} ok`);
  });

  it('fails on a sha256 that differs, and removes the file', async () => {
    const bundle = await fx.bundle({ 'ferry.yml': 'apps:\n  cart: {}\n' });
    const fetched = await fx.context(bundle);
    await fetchStep.run(fetched);
    const ctx = await fx.context({ ...bundle, sha256: 'f'.repeat(64) });
    ctx.archive = fetched.archive;
    ctx.archiveSha256 = fetched.archiveSha256;
    await verifyStep.run(ctx);
    expect(ctx.failure?.error).toContain(
      `sha256 ${bundle.sha256} is not the expected ${'f'.repeat(64)}`,
    );
    await expect(readFile(fetched.archive)).rejects.toThrow();
  });

  it('checks the server’s signature, and says so', async () => {
    const bundle = await fx.bundle({ 'ferry.yml': 'apps:\n  cart: {}\n' });
    const ctx = await fx.context(bundle);
    await fetchStep.run(ctx);
    await verifyStep.run(ctx);
    expect(ctx.failure).toBeUndefined();
    expect(fx.output()).toMatch(/signature by the server's key SHA256:\S+ ok/);
  });

  it('refuses a bundle whose bytes and sha256 both changed after the server signed it', async () => {
    const signed = await fx.bundle({ 'ferry.yml': 'apps:\n  cart: {}\n' });
    const signature = (await fx.context(signed)).job.signature;
    // Other bytes, their sha256 and size in the job: as an attacker with the
    // server's disk would rewrite the record; the signature stays the server's.
    const other = await fx.bundle({ 'ferry.yml': 'apps:\n  cart: {}\n', 'evil.js': 'x' });
    const ctx = await fx.context({ ...other, signature });
    await fetchStep.run(ctx);
    await verifyStep.run(ctx);
    expect(ctx.failure?.error).toMatch(
      /refusing to unpack cart@2: its signature does not verify with the server's signing key SHA256:/,
    );
    expect(fx.output()).toContain('refusing to unpack cart@2');
    await expect(readFile(ctx.archive)).rejects.toThrow();
  });

  it('refuses a job that carries no signature', async () => {
    const bundle = await fx.bundle({ 'ferry.yml': 'apps:\n  cart: {}\n' });
    const ctx = await fx.context({ ...bundle, signature: undefined });
    await fetchStep.run(ctx);
    await verifyStep.run(ctx);
    expect(ctx.failure?.error).toContain('the job carries no signature');
  });
});
