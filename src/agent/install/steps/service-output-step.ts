import { open } from 'node:fs/promises';
import { serviceLogs } from '../service-logs.js';
import type { StepOutcome } from '../step-reporter.js';
import type { InstallContext } from './install-step.js';

/** Of each of the service's outputs, the step keeps at most this many bytes: its first. */
export const SERVICE_OUTPUT_MAX = 64 * 1024;

/**
 * Records what the new release's service has written so far to its stdout and
 * stderr logs (the first `SERVICE_OUTPUT_MAX` bytes of each), as step
 * `service-output`, once its health check passed: the release report looks
 * for warnings in a service's first seconds as in any step's output, and the
 * agent's step reporter masks secrets in it as in every step. It adds no
 * waiting and never fails the install: a log that cannot be read is said so
 * in the step's stderr and the step still succeeds.
 */
export async function recordServiceOutput(ctx: InstallContext): Promise<StepOutcome> {
  if (!ctx.manifest.service) return { ok: true, error: null };
  const logs = serviceLogs(ctx.paths.appDir, ctx.job.version);
  return ctx.steps.step('service-output', async (context) => {
    for (const [file, write] of [
      [logs.stdoutFile, context.out],
      [logs.stderrFile, context.err],
    ] as const) {
      try {
        const text = await head(file, SERVICE_OUTPUT_MAX);
        if (text !== '') write(text);
      } catch (err) {
        // Not reading a log must not fail a release that works.
        context.err(`(cannot read ${file}: ${(err as Error).message})\n`);
      }
    }
  });
}

/** The first `max` bytes of `file` as text, cut at the last whole line when cut; '' when there is no file. */
async function head(file: string, max: number): Promise<string> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
  try {
    const buffer = Buffer.alloc(max);
    const { bytesRead } = await handle.read(buffer, 0, max, 0);
    const size = (await handle.stat()).size;
    let bytes = buffer.subarray(0, bytesRead);
    if (size > bytesRead) {
      // Cut at the last line break so that no half line (or half character) is kept.
      const end = bytes.lastIndexOf(0x0a);
      if (end >= 0) bytes = bytes.subarray(0, end + 1);
    }
    return bytes.toString('utf8');
  } finally {
    await handle.close();
  }
}
