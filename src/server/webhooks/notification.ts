import type { EventKind, FerryEvent } from '../../protocol/events.js';
import type { NotificationKind } from '../../store/webhook-store.js';

/** The events notifications are derived from. */
export const NOTIFYING_EVENTS: readonly EventKind[] = [
  'deployment.created',
  'deployment.state',
  'verdict.changed',
  'alert.raised',
  'alert.cleared',
];

/** What one event tells webhooks, if anything. */
export interface Notification {
  kind: NotificationKind;
  /**
   * One notification per key and webhook. A deployment's state event comes
   * again on each change of phase: its start and its end are notified once.
   */
  dedupKey: string;
  /** In words, for people (and the whole of a Slack message). */
  summary: string;
}

/**
 * The notification an event makes: a deployment that started (made running,
 * or moved to running), succeeded, failed (or landed on part of its hosts),
 * or was rolled back (a failed batch's hosts reverted, or a `rollback`
 * deployment that succeeded); a verdict changed; an alert raised or cleared.
 * Other events (and other states: pending, cancelled, no hosts) make none.
 *
 * @example
 *   notificationOf(event) // { kind: 'deployment.failed', dedupKey: 'end:dep_1', summary: 'cart@12 failed on prod: …' }
 */
export function notificationOf(event: FerryEvent): Notification | undefined {
  const app = event.app ?? '?';
  const env = event.env ?? '?';
  switch (event.kind) {
    case 'deployment.created':
    case 'deployment.state': {
      const d = event.data;
      const release = `${app}@${d.version}`;
      const id = event.deploymentId ?? event.id;
      const end = `end:${id}`;
      switch (d.state) {
        case 'running':
          return {
            kind: 'deployment.started',
            dedupKey: `start:${id}`,
            summary: `${release} is being deployed to ${env} (${d.kind} by ${d.by})`,
          };
        case 'succeeded':
          return d.kind === 'rollback'
            ? {
                kind: 'deployment.rolled_back',
                dedupKey: end,
                summary: `${env} was rolled back to ${release} (by ${d.by})`,
              }
            : {
                kind: 'deployment.succeeded',
                dedupKey: end,
                summary: `${release} was deployed to ${env} (${d.kind} by ${d.by})`,
              };
        case 'failed':
        case 'partial':
          return {
            kind: 'deployment.failed',
            dedupKey: end,
            summary: `${release} ${d.state === 'partial' ? 'reached only part of' : 'failed on'} ${env}${d.error ? `: ${d.error}` : ''}`,
          };
        case 'rolled_back':
          return {
            kind: 'deployment.rolled_back',
            dedupKey: end,
            summary: `${release} failed on ${env} and was rolled back${d.error ? `: ${d.error}` : ''}`,
          };
        default:
          return undefined;
      }
    }
    case 'verdict.changed': {
      const d = event.data;
      return {
        kind: 'verdict.changed',
        dedupKey: event.id,
        summary: `${app}@${d.version} was marked ${d.verdict} by ${d.by} (was ${d.previous})${d.note ? `: ${d.note}` : ''}`,
      };
    }
    case 'alert.raised':
      return { kind: 'alert.raised', dedupKey: event.id, summary: `Alert: ${event.data.message}` };
    case 'alert.cleared':
      return {
        kind: 'alert.cleared',
        dedupKey: event.id,
        summary: `Cleared: ${event.data.message}`,
      };
    default:
      return undefined;
  }
}

/**
 * The body a webhook is sent: JSON with the notification's id (what a
 * receiver deduplicates by), kind, time and subject, the event's data, and
 * the summary; for `slack`, `{"text": summary}` (an incoming webhook's shape).
 */
export function notificationBody(
  format: 'json' | 'slack',
  id: string,
  kind: NotificationKind | 'ping',
  summary: string,
  event: Pick<FerryEvent, 'id' | 'at' | 'env' | 'app' | 'deploymentId' | 'hostId' | 'data'> | null,
  at: string,
): string {
  if (format === 'slack') return JSON.stringify({ text: `[ferry] ${summary}` });
  return JSON.stringify({
    id,
    kind,
    at: event?.at ?? at,
    env: event?.env ?? null,
    app: event?.app ?? null,
    deploymentId: event?.deploymentId ?? null,
    hostId: event?.hostId ?? null,
    eventId: event?.id ?? null,
    data: event?.data ?? {},
    summary,
  });
}
