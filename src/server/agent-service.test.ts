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
import { HostFactsService } from './host-facts-service.js';
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
    await store.hosts.create({ id: 'host_a', name: 'qa-1', env: 'qa', roles: ['web'], vars: {} });
    await store.hosts.cutOff('host_a', '2026-11-03T00:00:00.000Z');
    const { transport, deliver } = capturingTransport();
    const tokens = { onHostRevoked: () => undefined } as unknown as TokenService;
    const logger = { warn: () => undefined };
    const service = new AgentService(
      store,
      tokens,
      {} as BundleService,
      transport,
      logger,
      {} as VariableService,
      {} as InstallDispatcher,
      new HostFactsService(store, { keepSamples: 10, keepDays: 30, sampleMinutes: 10 }, logger),
    );
    try {
      // At once, before any sweep: a broker delivering what waited in the events queue.
      await deliver('host_a', {
        v: PROTOCOL_VERSION,
        id: 'ev-1',
        type: 'facts',
        facts: { from: 'a revoked host' },
      });
      expect((await store.hosts.get('host_a'))?.facts).toBeNull();
    } finally {
      service.close();
    }
  });
});

describe('AgentService, facts reports', () => {
  const HISTORY = { keepSamples: 3, keepDays: 30, sampleMinutes: 10 };
  let now: Date;
  let warnings: { details: object; message: string }[];
  let deliver: (hostId: string, event: AgentEvent) => Promise<void>;
  let service: AgentService;
  let facts: HostFactsService;
  let reported: string[];

  beforeEach(async () => {
    await store.hosts.create({ id: 'host_a', name: 'qa-1', env: 'qa', roles: ['web'], vars: {} });
    now = new Date('2026-12-01T10:00:00.000Z');
    warnings = [];
    reported = [];
    const logger = {
      warn: (details: object, message: string) => warnings.push({ details, message }),
    };
    const captured = capturingTransport();
    deliver = captured.deliver;
    facts = new HostFactsService(store, HISTORY, logger, () => now);
    service = new AgentService(
      store,
      { onHostRevoked: () => undefined } as unknown as TokenService,
      {} as BundleService,
      captured.transport,
      logger,
      {} as VariableService,
      {} as InstallDispatcher,
      facts,
    );
    service.observe({
      installFinished: () => Promise.resolve(),
      factsReported: (hostId) => Promise.resolve(void reported.push(hostId)),
      presenceChanged: () => undefined,
    });
  });
  afterEach(() => service.close());

  let seq = 0;
  const report = (body: Record<string, unknown>, minutesLater = 1) => {
    now = new Date(now.getTime() + minutesLater * 60_000);
    return deliver('host_a', {
      v: PROTOCOL_VERSION,
      id: `ev-${++seq}`,
      type: 'facts',
      facts: { factsVersion: 2, ...body },
    });
  };
  const node = (version: string, load = 0.5) => ({
    runtimes: { node: version },
    load: [load, 0.4, 0.3],
  });

  it('keeps a sample when the node version changes, with the time of each', async () => {
    await report(node('20.11.1'));
    await report(node('22.3.0'));
    const shown = await facts.show('qa-1', 10);
    expect(shown.facts?.runtimes.node).toBe('22.3.0');
    expect(shown.history.map((h) => [h.at, h.facts.runtimes.node])).toEqual([
      ['2026-12-01T10:02:00.000Z', '22.3.0'],
      ['2026-12-01T10:01:00.000Z', '20.11.1'],
    ]);
    expect(shown.history[0]?.changes).toEqual([
      { field: 'runtimes.node', from: '20.11.1', to: '22.3.0' },
    ]);
    expect(reported).toEqual(['host_a', 'host_a']);
  });

  it('samples a change of load alone at most every sampleMinutes; an unchanged report not at all', async () => {
    await report(node('20.11.1', 0.5));
    await report(node('20.11.1', 0.9), 1);
    await report(node('20.11.1', 0.5), 20);
    const loads = async () =>
      (await store.hosts.listFactsSamples('host_a')).map((s) => s.facts.load?.[0]);
    expect(await loads()).toEqual([0.5]);
    await report(node('20.11.1', 1.7), 1);
    await report(node('20.11.1', 1.9), 1);
    expect(await loads()).toEqual([1.7, 0.5]);
    // The latest facts are on the host all the same.
    expect((await store.hosts.get('host_a'))?.facts?.load?.[0]).toBe(1.9);
  });

  it('keeps at most keepSamples samples per host', async () => {
    for (const version of ['1', '2', '3', '4', '5']) await report(node(version));
    expect(
      (await store.hosts.listFactsSamples('host_a')).map((s) => s.facts.runtimes.node),
    ).toEqual(['5', '4', '3']);
  });

  it("takes an older agent's report (facts version 1, a flat record) into the history", async () => {
    await deliver('host_a', {
      v: PROTOCOL_VERSION,
      id: 'ev-old',
      type: 'facts',
      facts: { os: 'Linux 6.1', runtimes: { node: '18.19.0', npm: '10.2.3', python3: null } },
    });
    const shown = await facts.show('qa-1', 5);
    expect(shown.facts).toMatchObject({ factsVersion: 1, os: 'Linux', kernel: '6.1' });
    expect(shown.history.map((h) => h.facts.runtimes)).toEqual([
      { node: '18.19.0', npm: '10.2.3', python3: null, pip: null },
    ]);
  });

  it('refuses a malformed report with a logged error, and keeps the facts the host had', async () => {
    await report(node('20.11.1'));
    await report({ cpus: 'many', runtimes: { node: 22 } });
    expect((await store.hosts.get('host_a'))?.facts?.runtimes.node).toBe('20.11.1');
    expect(await store.hosts.listFactsSamples('host_a')).toHaveLength(1);
    expect(warnings).toEqual([
      {
        message: 'refused a facts report; the host keeps its previous facts',
        details: {
          hostId: 'host_a',
          code: 'E_FACTS_INVALID',
          problems: [
            'cpus: Invalid input: expected number, received string',
            'runtimes.node: Invalid input: expected string, received number',
          ],
        },
      },
    ]);
    // Nothing is caught up on facts that were refused.
    expect(reported).toEqual(['host_a']);
  });
});
