import { open } from 'node:fs/promises';
import { serviceLogs } from '../service-logs.js';
import type { StepOutcome } from '../step-reporter.js';
import type { InstallContext } from './install-step.js';

/** Of each of the service's outputs, the step keeps at most this many bytes: its first. */
export const SERVICE_OUTPUT_MAX = 64 * 1024;

/**
 * Records what the new release's service has written to its stdout and stderr
 * logs since this start of it (at most the first `SERVICE_OUTPUT_MAX` bytes of
 * each, in whole lines), as step `service-output`, once its health check
 * passed: the release report looks for warnings in a service's first seconds
 * as in any step's output.
 *
 * Every process driver appends to the version's logs, so they also hold what
 * earlier starts of the same version printed, perhaps with a secret since
 * rotated, which this job does not know to mask: only what follows the sizes
 * `startRelease` noted before the start is read. What is read goes through the
 * step reporter, which masks the job's secrets as in every step; and since a
 * part of a secret is not masked, only whole lines are sent (a line longer
 * than the cap, or still being written, is left out, and no UTF-8 character is
 * ever cut). It adds no waiting and never fails the install: a log that cannot
 * be read is said so in the step's stderr and the step still succeeds.
 */
export async function recordServiceOutput(ctx: InstallContext): Promise<StepOutcome> {
  if (!ctx.manifest.service) return { ok: true, error: null };
  const logs = serviceLogs(ctx.paths.appDir, ctx.job.version);
  const start = ctx.serviceLogStart?.version === ctx.job.version ? ctx.serviceLogStart : undefined;
  return ctx.steps.step('service-output', async (context) => {
    for (const [file, from, write] of [
      [logs.stdoutFile, start?.stdout, context.out],
      [logs.stderrFile, start?.stderr, context.err],
    ] as const) {
      if (from === undefined || from === null) {
        // Without knowing where this start began, the log may show an earlier start's secrets.
        context.err(`(not read: where this start's output begins in ${file} is unknown)\n`);
        continue;
      }
      try {
        const text = await linesSince(file, from, SERVICE_OUTPUT_MAX);
        if (text !== '') write(text);
      } catch (err) {
        // Not reading a log must not fail a release that works.
        context.err(`(cannot read ${file}: ${(err as Error).message})\n`);
      }
    }
  });
}

/**
 * The whole lines of `file` that begin at byte `from` or after, at most `max`
 * bytes of them; '' when there is no file. A file now shorter than `from` was emptied since
 * (rotated by copy and truncate): all it holds came since, and it is read from
 * its beginning.
 */
async function linesSince(file: string, from: number, max: number): Promise<string> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
  try {
    const size = (await handle.stat()).size;
    // One byte before `from` too: whether this start's output begins a line.
    const position = size < from ? 0 : Math.max(0, from - 1);
    const buffer = Buffer.alloc(Math.min(max + 1, size - position));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    const read = buffer.subarray(0, bytesRead);
    // The size was noted while the process before was still writing: a line
    // of its that straddles `from` is its, and its rest (perhaps the end of an
    // old secret, which masking cannot recognise) stays out.
    const lineEnd = read.indexOf(0x0a);
    if (position > 0 && lineEnd === -1) return '';
    const begin = position === 0 ? 0 : lineEnd + 1;
    // Up to the last line break: no part of a line, so neither part of a secret
    // (unmaskable) nor part of a UTF-8 character (a line break is never inside one).
    const end = read.subarray(0, Math.min(read.length, begin + max)).lastIndexOf(0x0a);
    return end < begin ? '' : read.subarray(begin, end + 1).toString('utf8');
  } finally {
    await handle.close();
  }
}
