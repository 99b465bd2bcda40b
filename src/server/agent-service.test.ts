import SQLite from 'better-sqlite3';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BundleDetail } from '../protocol/api.js';
import { type AgentEvent, PROTOCOL_VERSION } from '../protocol/messages.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { ServerTransport } from '../transport/transport.js';
import { AgentService } from './agent-service.js';
import type { BundleService } from './bundle-service.js';
import type { StoredToken } from '../store/store.js';
import { InstallDispatcher } from './deployments/install-dispatcher.js';
import { migratingInstall } from './deployments/migration-gate.js';
import { EventBus } from './events/event-bus.js';
import { eventedStore } from './events/evented-store.js';
import { HostFactsService } from './host-facts-service.js';
import type { TokenService } from './token-service.js';
import { VariableService } from './variable-service.js';
import { capturingTransport } from '../../test/helpers/capturing-transport.js';

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

describe('AgentService, as a replica starts', () => {
  it('drops the events of a host cut off before it started, from the first one', async () => {
    await store.hosts.create({ id: 'host_a', name: 'qa-1', env: 'qa', roles: ['web'], vars: {} });
    await store.hosts.cutOff('host_a', '2026-11-03T00:00:00.000Z');
    const { transport, deliver } = capturingTransport();
    const tokens = {} as TokenService;
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
      { notify: () => undefined, withEffects: (work) => work() },
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
  let bus: EventBus;

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
    bus = new EventBus(store, logger as unknown as FastifyBaseLogger);
    bus.onLocal('host.reported', (notice) => void reported.push(notice.hostId));
    service = new AgentService(
      store,
      {} as TokenService,
      {} as BundleService,
      captured.transport,
      logger,
      {} as VariableService,
      {} as InstallDispatcher,
      facts,
      bus,
    );
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
    await bus.idle();
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
    await bus.idle();
    expect(reported).toEqual(['host_a']);
  });
});

describe('AgentService, continuous health', () => {
  it("records a service's health as the host's, with the server's time, and forgets it with the host", async () => {
    await store.hosts.create({ id: 'host_a', name: 'qa-1', env: 'qa', roles: ['web'], vars: {} });
    const { transport, deliver } = capturingTransport();
    const logger = { warn: () => undefined };
    const service = new AgentService(
      store,
      {} as TokenService,
      {} as BundleService,
      transport,
      logger,
      {} as VariableService,
      {} as InstallDispatcher,
      new HostFactsService(store, { keepSamples: 10, keepDays: 30, sampleMinutes: 10 }, logger),
      { notify: () => undefined, withEffects: (work) => work() },
    );
    try {
      const before = new Date().toISOString();
      await deliver('host_a', {
        v: PROTOCOL_VERSION,
        id: 'ev-h1',
        type: 'health',
        app: 'cart',
        version: 12,
        state: 'failing',
        since: '2026-12-06T14:02:00.000Z',
        answer: 'HTTP 500 from http://127.0.0.1:8080/health, expected 200',
        restarts: 3,
        // The agent's clock may be off: the server records its own.
        at: '1999-01-01T00:00:00.000Z',
      });
      const [kept] = await store.health.list({ hostId: 'host_a' });
      expect(kept).toMatchObject({
        host: 'qa-1',
        env: 'qa',
        app: 'cart',
        version: 12,
        state: 'failing',
        since: '2026-12-06T14:02:00.000Z',
        answer: 'HTTP 500 from http://127.0.0.1:8080/health, expected 200',
        restarts: 3,
      });
      expect(kept!.at >= before).toBe(true);

      await service.removeHost('qa-1', 'admin');
      // The rows themselves, not only hidden from the lists with the host.
      const file = new SQLite(path.join(dir, 'ferry.db'), { readonly: true });
      try {
        expect(
          file.prepare('SELECT app FROM service_health WHERE host_id = ?').all('host_a'),
        ).toEqual([]);
      } finally {
        file.close();
      }
    } finally {
      service.close();
    }
  });
});

describe('AgentService, an install by hand (`ferry install`)', () => {
  const bundle: BundleDetail = {
    app: 'web',
    version: 3,
    label: null,
    commit: null,
    dirty: null,
    sha256: 'a'.repeat(64),
    size: 10,
    fileCount: 1,
    createdAt: '2026-11-03T00:00:00.000Z',
    pushedAt: '2026-11-03T00:00:00.000Z',
    pushedBy: 'dev',
    signatures: [],
    manifest: { role: 'web', service: { command: 'node server.js' } },
  };

  it('is recorded sent before its job goes: a server that dies while sending leaves no sent job unrecorded', async () => {
    await store.hosts.create({ id: 'host_a', name: 'qa-1', env: 'qa', roles: ['web'], vars: {} });
    // What the store says of the install when the job is handed over; then the server dies.
    const seen: { state: string; sentAt: string | null }[] = [];
    const transport: ServerTransport = {
      async send(_hostId, job) {
        const install = await store.installs.get(job.id);
        seen.push({ state: install!.state, sentAt: install!.sentAt });
        throw new Error('the server died while sending');
      },
      onEvent: () => undefined,
      onPresence: () => undefined,
      connectedHosts: () => [],
      disconnect: () => Promise.resolve(),
      close: () => Promise.resolve(),
    };
    const logger = { warn: () => undefined };
    const variables = new VariableService(store);
    const service = new AgentService(
      store,
      {} as TokenService,
      { get: () => Promise.resolve(bundle) } as unknown as BundleService,
      transport,
      logger,
      variables,
      new InstallDispatcher(store, transport, variables),
      new HostFactsService(store, { keepSamples: 10, keepDays: 30, sampleMinutes: 10 }, logger),
      { notify: () => undefined, withEffects: (work) => work() },
    );
    try {
      await expect(
        service.install('admin', { app: 'web', version: 3, host: 'qa-1' }),
      ).rejects.toThrow('the server died while sending');
      expect(seen).toEqual([{ state: 'pending', sentAt: expect.any(String) as string }]);
      // The record left behind says the job may have gone: the host may fetch its bundle.
      const [left] = await store.installs.list({ hostId: 'host_a' });
      expect(left).toMatchObject({ purpose: 'install', state: 'pending', sentAt: seen[0]!.sentAt });
    } finally {
      service.close();
    }
  });
});

describe('AgentService, asked whether an install is still wanted', () => {
  let service: AgentService;
  let captured: ReturnType<typeof capturingTransport>;
  const token = { hostId: 'host_a' } as StoredToken;

  beforeEach(async () => {
    for (const [id, name] of [
      ['host_a', 'qa-1'],
      ['host_b', 'qa-2'],
    ] as const)
      await store.hosts.create({ id, name, env: 'qa', roles: ['web'], vars: {} });
    await store.deployments.create(
      {
        id: 'dep_1',
        app: 'web',
        version: 2,
        env: 'qa',
        kind: 'deploy',
        strategy: { batch: 1, maxFailures: 0, rollbackOnFailure: false, offlineTimeout: '5m' },
        fromVersion: 1,
        refreshVars: false,
        createdBy: 'admin',
        triggeredBy: null,
        state: 'running',
      },
      ['host_a', 'host_b'].map((hostId, batch) => ({
        id: `ins_${hostId}`,
        hostId,
        app: 'web',
        version: 2,
        createdBy: 'admin',
        deploymentId: 'dep_1',
        purpose: 'deploy' as const,
        batch,
        fromVersion: 1,
        state: 'queued' as const,
      })),
      { lock: true },
    );
    captured = capturingTransport();
    service = new AgentService(
      store,
      {} as TokenService,
      {} as BundleService,
      captured.transport,
      { warn: () => undefined },
      {} as VariableService,
      {} as InstallDispatcher,
      new HostFactsService(
        store,
        { keepSamples: 3, keepDays: 30, sampleMinutes: 10 },
        {
          warn: () => undefined,
        },
      ),
      { notify: () => undefined, withEffects: (work) => work() },
    );
  });
  afterEach(() => service.close());

  it('records its answer "go ahead" as the start of the job: the host keeps the migrations, even given up on before its first step', async () => {
    expect(await service.wanted(token, 'ins_host_a')).toEqual({ proceed: true, reason: null });
    const told = await store.installs.get('ins_host_a');
    expect(told?.state).toBe('running');
    expect(told?.startedAt).not.toBeNull();
    // The rollout then gives up on the host (it looked offline), before any step report.
    expect(
      await store.installs.mark('ins_host_a', { state: 'skipped', error: 'offline' }, ['running']),
    ).toBe(true);
    const wave = await store.installs.list({ deploymentId: 'dep_1' });
    expect(migratingInstall(wave)?.host).toBe('qa-1');
  });

  it.each([
    ['the store', () => store],
    // As the server runs it: through the store that publishes what it records.
    [
      'the evented store',
      () =>
        eventedStore(
          store,
          new EventBus(store, {
            error: () => undefined,
            warn: () => undefined,
          } as unknown as FastifyBaseLogger),
        ),
    ],
  ])(
    "records no step, start or end, that a host reports on another host's install (%s)",
    async (_through, through) => {
      const warned: unknown[] = [];
      const watching = new AgentService(
        through(),
        {} as TokenService,
        {} as BundleService,
        captured.transport,
        { warn: (details: unknown) => warned.push(details) },
        {} as VariableService,
        {} as InstallDispatcher,
        {} as HostFactsService,
        { notify: () => undefined, withEffects: (work) => work() },
      );
      try {
        const at = new Date().toISOString();
        await captured.deliver('host_a', {
          v: PROTOCOL_VERSION,
          id: 'ev-1',
          type: 'step.started',
          jobId: 'ins_host_b',
          step: 'fetch',
          at,
        });
        await captured.deliver('host_a', {
          v: PROTOCOL_VERSION,
          id: 'ev-2',
          type: 'step.finished',
          jobId: 'ins_host_b',
          step: 'fetch',
          ok: true,
          exitCode: 0,
          durationMs: 1,
          error: null,
        });
        expect(await store.installs.get('ins_host_b')).toMatchObject({
          state: 'queued',
          steps: [],
        });
        expect(warned).toMatchObject([
          { hostId: 'host_a', jobId: 'ins_host_b', type: 'step.started' },
          { hostId: 'host_a', jobId: 'ins_host_b', type: 'step.finished' },
        ]);
        // Its own install's are.
        await captured.deliver('host_a', {
          v: PROTOCOL_VERSION,
          id: 'ev-3',
          type: 'step.started',
          jobId: 'ins_host_a',
          step: 'fetch',
          at,
        });
        expect((await store.installs.get('ins_host_a'))?.steps).toMatchObject([{ step: 'fetch' }]);
      } finally {
        watching.close();
      }
    },
  );

  it("answers the question asked on a host's connection as over HTTP, for that host's installs only, and not to a host cut off", async () => {
    expect(await captured.ask('host_a', 'ins_host_a')).toEqual({ proceed: true, reason: null });
    expect((await store.installs.get('ins_host_a'))?.state).toBe('running');
    // Another host's install is none of this one's.
    await expect(captured.ask('host_a', 'ins_host_b')).rejects.toMatchObject({
      code: 'E_INSTALL_NOT_FOUND',
    });
    expect((await store.installs.get('ins_host_b'))?.state).toBe('queued');
    // Cut off (its connection is being closed): refused, as its token would be.
    await store.hosts.cutOff('host_b', new Date().toISOString());
    const cutOff = new AgentService(
      store,
      {} as TokenService,
      {} as BundleService,
      captured.transport,
      { warn: () => undefined },
      {} as VariableService,
      {} as InstallDispatcher,
      {} as HostFactsService,
      { notify: () => undefined, withEffects: (work) => work() },
    );
    try {
      await expect(captured.ask('host_b', 'ins_host_b')).rejects.toMatchObject({
        code: 'E_AUTH_INVALID',
      });
      expect((await store.installs.get('ins_host_b'))?.state).toBe('queued');
    } finally {
      cutOff.close();
    }
  });

  it('says no to an install given up on before it asked, and records nothing', async () => {
    await store.installs.mark('ins_host_a', { state: 'skipped', error: 'qa-1 was offline' }, [
      'queued',
    ]);
    expect(await service.wanted(token, 'ins_host_a')).toEqual({
      proceed: false,
      reason: 'qa-1 was offline',
    });
    const declined = await store.installs.get('ins_host_a');
    expect([declined?.state, declined?.startedAt]).toEqual(['skipped', null]);
    expect(migratingInstall(await store.installs.list({ deploymentId: 'dep_1' }))?.host).toBe(
      'qa-2',
    );
  });

  it('says no to an install of a cancelled deployment that the cancel has not reached yet, and cancels it', async () => {
    // The gap a cancel leaves between recording the deployment and its installs.
    await store.deployments.update('dep_1', { state: 'cancelled', error: 'cancelled by admin' });
    expect(await service.wanted(token, 'ins_host_a')).toEqual({
      proceed: false,
      reason: 'the deployment was cancelled: cancelled by admin',
    });
    const declined = await store.installs.get('ins_host_a');
    expect([declined?.state, declined?.startedAt]).toEqual(['cancelled', null]);
  });

  it('says no to a revert of a cancelled deployment, and go ahead to a catch-up of one that ended otherwise', async () => {
    await store.installs.createMany([
      {
        id: 'ins_revert',
        hostId: 'host_a',
        app: 'web',
        version: 1,
        createdBy: 'admin',
        deploymentId: 'dep_1',
        purpose: 'revert',
        fromVersion: 2,
        state: 'queued',
      },
    ]);
    await store.deployments.update('dep_1', { state: 'cancelled', error: 'cancelled by admin' });
    expect((await service.wanted(token, 'ins_revert')).proceed).toBe(false);
    expect((await store.installs.get('ins_revert'))?.state).toBe('cancelled');
    // A host catching up to the release of a deployment that ended partial goes ahead.
    await store.deployments.update('dep_1', { state: 'partial' });
    await store.installs.createMany([
      {
        id: 'ins_catch_up',
        hostId: 'host_a',
        app: 'web',
        version: 2,
        createdBy: 'ferry (catch-up)',
        deploymentId: 'dep_1',
        purpose: 'catch-up',
        fromVersion: 1,
        state: 'queued',
      },
    ]);
    expect(await service.wanted(token, 'ins_catch_up')).toEqual({ proceed: true, reason: null });
  });

  it('says go ahead again to a host that asks again (its agent stopped before it began)', async () => {
    await service.wanted(token, 'ins_host_a');
    expect(await service.wanted(token, 'ins_host_a')).toEqual({ proceed: true, reason: null });
  });
});
