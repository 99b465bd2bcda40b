import { FerryError } from './errors.js';
import type { Job } from './messages.js';

/**
 * The largest message either transport carries, in bytes: the built-in
 * transport's WebSocket frame limit (a larger frame makes the receiver drop the
 * connection), kept for RabbitMQ too so that both behave alike.
 */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/** The largest job, as JSON: a frame's envelope around it must still fit. */
export const MAX_JOB_BYTES = MAX_MESSAGE_BYTES - 1024;

/** One part of a job and its size as JSON, for saying what made a job large. */
export interface JobPart {
  /** `manifest`, `vars.NAME`, or another top-level field. */
  part: string;
  bytes: number;
}

/** The size of a job as JSON, in bytes. */
export function jobBytes(job: Job): number {
  return Buffer.byteLength(JSON.stringify(job));
}

/** The largest parts of a job, largest first: its manifest section, each variable, the rest. */
export function largestParts(job: Job, count = 5): JobPart[] {
  const parts: JobPart[] = [];
  for (const [field, value] of Object.entries(job)) {
    if (field === 'vars') {
      for (const [name, text] of Object.entries(value as Record<string, string>)) {
        parts.push({ part: `vars.${name}`, bytes: Buffer.byteLength(JSON.stringify(text)) });
      }
    } else {
      parts.push({ part: field, bytes: Buffer.byteLength(JSON.stringify(value) ?? '') });
    }
  }
  return parts.sort((a, b) => b.bytes - a.bytes).slice(0, count);
}

/**
 * Throws `E_JOB_TOO_LARGE` when a job would not fit in one transport message,
 * naming its largest parts, so that it is refused where it is made instead of
 * being sent again and again to a host that cannot take it. `what` says whose
 * job it is (`cart@3 for qa-web-1`).
 *
 * @example
 *   assertJobFits(job, `cart@3 for ${host.name}`);
 */
export function assertJobFits(job: Job, what: string): void {
  const bytes = jobBytes(job);
  if (bytes <= MAX_JOB_BYTES) return;
  const parts = largestParts(job);
  const named = parts
    .slice(0, 3)
    .map((p) => `${p.part} (${p.bytes} bytes)`)
    .join(', ');
  throw new FerryError(
    'E_JOB_TOO_LARGE',
    `The job of ${what} would be ${bytes} bytes, more than the ${MAX_JOB_BYTES} a transport carries; the largest parts: ${named}`,
    { bytes, limit: MAX_JOB_BYTES, parts },
  );
}
