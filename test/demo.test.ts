import { access } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { runFerry } from './helpers/ferry-process.js';

describe('ferry demo --exit', () => {
  it('runs the story, narrating each step, and cleans up after itself', async () => {
    const result = await runFerry(['demo', '--exit']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const out = result.stdout;
    expect(out).toContain('ferry push → hello@1 (label 1.0.0');
    expect(out).toContain('ferry push → hello@2 (label 1.1.0');
    expect(out).toContain('→ hello@2 (new: false)');
    expect(out).toContain('[E_MANIFEST_INVALID]');
    expect(out).toContain('hello: latest hello@2, 2 bundles');
    expect(out).toContain('sha256 verified');
    const root = /with its data in (\S+)\/server/.exec(out)?.[1];
    expect(root).toBeDefined();
    await expect(access(root!)).rejects.toThrow();
  });
});
