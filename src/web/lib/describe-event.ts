import type { FerryEvent } from '../../protocol/events.js';

/** What an event says, in words and a state for its badge (null when it has none). */
export interface EventWords {
  text: string;
  state: string | null;
}

/**
 * One live event as a line of the activity page: "cart@13 deploy to qa:
 * running". Text only: whatever the server sent is shown as text nodes.
 *
 * @example
 *   describeEvent(event) // { text: 'cart@13 on qa-2: install', state: 'failed' }
 */
export function describeEvent(event: FerryEvent): EventWords {
  const app = event.app ?? '';
  const where = event.env ? ` in ${event.env}` : '';
  switch (event.kind) {
    case 'deployment.created':
      return {
        text: `${app}@${event.data.version} ${event.data.kind}${where} started by ${event.data.by}`,
        state: event.data.state,
      };
    case 'deployment.state':
      return {
        text: `${app}@${event.data.version} ${event.data.kind}${where}${event.data.error ? `: ${event.data.error}` : ''}`,
        state: event.data.state,
      };
    case 'install.state':
      return {
        text: `${app}@${event.data.version} on ${event.data.host} (${event.data.purpose})${event.data.error ? `: ${event.data.error}` : ''}`,
        state: event.data.state,
      };
    case 'install.step':
      return {
        text: `${app}@${event.data.version} on ${event.data.host}: step ${event.data.step}`,
        state: event.data.state,
      };
    case 'verdict.changed':
      return {
        text: `${app}@${event.data.version} marked by ${event.data.by}${event.data.note ? `: “${event.data.note}”` : ''}`,
        state: event.data.verdict,
      };
    case 'host.connected':
      return { text: `host ${event.data.host}${where} connected`, state: 'connected' };
    case 'host.disconnected':
      return { text: `host ${event.data.host}${where} went away`, state: 'away' };
    case 'host.facts':
      return { text: `host ${event.data.host}${where} reported its facts`, state: null };
    case 'bundle.pushed':
      return {
        text: `${app}@${event.data.version} pushed by ${event.data.by}${event.data.label ? ` (label ${event.data.label})` : ''}`,
        state: null,
      };
    case 'note.changed': {
      const about =
        event.data.version !== null
          ? `${app}@${event.data.version}`
          : `label ${event.data.label ?? ''}`;
      return {
        text: `note #${event.data.noteId} on ${about} ${event.data.change} by ${event.data.by}`,
        state: null,
      };
    }
    case 'host.health': {
      const release = event.data.version === null ? app : `${app}@${event.data.version}`;
      return {
        text: `${release} on ${event.data.host}${where}${event.data.answer ? `: ${event.data.answer}` : ''}`,
        state: event.data.state,
      };
    }
    case 'alert.raised':
    case 'alert.cleared':
      return {
        text: `alert #${event.data.alertId} ${event.data.alertKind}: ${event.data.message}`,
        state: event.kind === 'alert.raised' ? 'alert' : 'cleared',
      };
  }
}
