import { randomUUID } from 'node:crypto';
import { type AgentEvent, PROTOCOL_VERSION } from '../protocol/messages.js';

/**
 * The event that ends a job that cannot be carried out as it is — it does not
 * parse (a newer server's job type, a bad field) or it is larger than a
 * transport message — as a failed install with the reason. Acknowledging such a
 * job without a word would leave its install `queued` for ever; not
 * acknowledging it would send it again and again, and every later job of the
 * host would wait behind it.
 */
export function unhandledJobEvent(jobId: string, reason: string): AgentEvent {
  return {
    v: PROTOCOL_VERSION,
    id: randomUUID(),
    type: 'job.finished',
    jobId,
    ok: false,
    rolledBack: false,
    error: `the job could not be carried out: ${reason}`.slice(0, 4000),
  };
}

/**
 * A job handler's failure that trying again will not mend (the server answered
 * that it will not say, or said something this agent cannot read): the
 * transport ends the job as a failed install with this message and
 * acknowledges it, so that the host's later jobs are not held behind it.
 */
export class FinalJobError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FinalJobError';
  }
}

/** How long a job's handler may keep failing before the job is given up (15 minutes). */
export const DEFAULT_GIVE_UP_AFTER_MS = 15 * 60_000;

/**
 * Keeps, per job, when its handler first failed, and says when to stop trying:
 * at once for a `FinalJobError`, and once it has been failing for longer than
 * `giveUpAfterMs` for anything else. A server that is slow or away for a few
 * minutes is waited for (its jobs are not lost); a failure that never goes away
 * does not hold the host's queue for ever.
 */
export class JobRetries {
  private readonly firstFailure = new Map<string, number>();

  constructor(private readonly giveUpAfterMs = DEFAULT_GIVE_UP_AFTER_MS) {}

  /** Records a failed attempt; returns why the job is given up now, or undefined to try again. */
  failed(jobId: string, err: unknown): string | undefined {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof FinalJobError) {
      this.firstFailure.delete(jobId);
      return message;
    }
    const now = Date.now();
    const first = this.firstFailure.get(jobId) ?? now;
    this.firstFailure.set(jobId, first);
    if (now - first < this.giveUpAfterMs) return undefined;
    this.firstFailure.delete(jobId);
    return `it kept failing for ${Math.round((now - first) / 1000)} s, the last time with: ${message}`;
  }

  /** The job was handled (or given up): its record goes. */
  done(jobId: string): void {
    this.firstFailure.delete(jobId);
  }
}
