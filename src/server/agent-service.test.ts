import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AgentEvent, PROTOCOL_VERSION } from '../protocol/messages.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { ServerTransport } from '../transport/transport.js';
import { AgentService } from './agent-service.js';
import type { BundleService } from './bundle-service.js';
import type { InstallDispatcher } from './deployments/install-dispatcher.js';
import type { TokenService } from './token-service.js';
import type { VariableService } from './variable-service.js';

let dir: string;
let store: SqliteStore;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-agent-service-'));
  store = SqliteStore.open(path.join(dir, 'ferry.db'));
  await store.migrate();
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

/** A transport that hands the test the service's event handler, as a broker delivering at once would. */
function capturingTransport(): {
  transport: ServerTransport;
  deliver: (hostId: string, event: AgentEvent) => Promise<void>;
} {
  let handler: ((hostId: string, event: AgentEvent) => Promise<void>) | undefined;
  const transport: ServerTransport = {
    send: () => Promise.resolve(),
    onEvent: (h) => void (handler = h),
    onPresence: () => undefined,
    connectedHosts: () => [],
    disconnect: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  return { transport, deliver: (hostId, event) => handler!(hostId, event) };
}

describe('AgentService, as a replica starts', () => {
  it('drops the events of a host cut off before it started, from the first one', async () => {
    await store.createHost({ id: 'host_a', name: 'qa-1', env: 'qa', roles: ['web'], vars: {} });
    await store.cutOffHost('host_a', '2026-11-03T00:00:00.000Z');
    const { transport, deliver } = capturingTransport();
    const tokens = { onHostRevoked: () => undefined } as unknown as TokenService;
    const service = new AgentService(
      store,
      tokens,
      {} as BundleService,
      transport,
      { warn: () => undefined },
      {} as VariableService,
      {} as InstallDispatcher,
    );
    try {
      // At once, before any sweep: a broker delivering what waited in the events queue.
      await deliver('host_a', {
        v: PROTOCOL_VERSION,
        id: 'ev-1',
        type: 'facts',
        facts: { from: 'a revoked host' },
      });
      expect((await store.getHost('host_a'))?.facts).toBeNull();
    } finally {
      service.close();
    }
  });
});
