import type { AgentEvent } from '../protocol/messages.js';

/**
 * Drops from an agent transport's events waiting for the server (or the
 * broker) the health reports that `event` supersedes: those of the same app.
 * A health report says the service's present state, so only the latest
 * matters; without this, every change during a disconnect would wait in
 * memory and reach the server in a burst on reconnect.
 *
 * @example
 *   dropSupersededHealth(this.unacked, checked);
 *   this.unacked.set(checked.id, checked);
 */
export function dropSupersededHealth(waiting: Map<string, AgentEvent>, event: AgentEvent): void {
  if (event.type !== 'health') return;
  for (const [id, older] of waiting) {
    if (older.type === 'health' && older.app === event.app) waiting.delete(id);
  }
}
