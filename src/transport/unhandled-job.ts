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
