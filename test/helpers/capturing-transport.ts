import type { InstallWanted } from '../../src/protocol/deployment-api.js';
import type { AgentEvent } from '../../src/protocol/messages.js';
import type { ServerTransport } from '../../src/transport/transport.js';

/**
 * A server transport that hands the test the server's event handler, as a
 * broker delivering at once would: `deliver` resolves when the server would
 * acknowledge the event, and rejects when it would have it delivered again.
 * `presence` says a host connected or went, as the transport would; `ask`
 * asks the still-wanted question on a host's connection.
 */
export function capturingTransport(): {
  transport: ServerTransport;
  deliver: (hostId: string, event: AgentEvent) => Promise<void>;
  presence: (hostId: string, connected: boolean) => void;
  ask: (hostId: string, installId: string) => Promise<InstallWanted>;
} {
  let handler: ((hostId: string, event: AgentEvent) => Promise<void>) | undefined;
  let wanted: ((hostId: string, installId: string) => Promise<InstallWanted>) | undefined;
  const presenceHandlers: ((hostId: string, connected: boolean) => void)[] = [];
  const transport: ServerTransport = {
    send: () => Promise.resolve(),
    onEvent: (h) => void (handler = h),
    onWantedQuestion: (h) => void (wanted = h),
    onPresence: (h) => void presenceHandlers.push(h),
    connectedHosts: () => [],
    disconnect: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  return {
    transport,
    deliver: (hostId, event) => handler!(hostId, event),
    presence: (hostId, connected) => presenceHandlers.forEach((h) => h(hostId, connected)),
    ask: (hostId, installId) => wanted!(hostId, installId),
  };
}
