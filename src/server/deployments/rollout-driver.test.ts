import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BundleDetail, HostRecord } from '../../protocol/api.js';
import { parseHostFacts } from '../../protocol/host-facts.js';
import { isActiveDeployment, UNSTARTED_INSTALL_STATES } from '../../protocol/lifecycle.js';
import type { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import type { InstallStore } from '../../store/install-store.js';
import { VariableService } from '../variable-service.js';
import type { InstallDispatcher } from './install-dispatcher.js';
import { RolloutDriver } from './rollout-driver.js';
import { BUNDLE, openDriverStore, until } from './rollout-driver-fixture.js';

let store: SqliteStore;
let opened: Awaited<ReturnType<typeof openDriverStore>>;

beforeEach(async () => {
  opened = await openDriverStore();
  store = opened.store;
});
afterEach(() => opened.close());

describe('RolloutDriver, the migrator told to go ahead as the rollout gives up on it', () => {
  it('never sends the migrations to a second host', async () => {
    const long = '2026-01-01T00:00:00.000Z';
    await store.hosts.create({ id: 'host_a', name: 'qa-1', env: 'qa', roles: ['web'], vars: {} });
    await store.hosts.create({ id: 'host_b', name: 'qa-2', env: 'qa', roles: ['web'], vars: {} });
    // qa-1 looks away (its presence not yet recorded), qa-2 is there.
    await store.hosts.setPresence('host_a', false, long);
    await store.hosts.setPresence('host_b', true, long);
    await store.deployments.create(
      {
        id: 'dep_1',
        app: 'web',
        version: 2,
        env: 'qa',
        kind: 'deploy',
        strategy: { batch: 1, maxFailures: 0, rollbackOnFailure: false, offlineTimeout: '1s' },
        fromVersion: 1,
        refreshVars: false,
        createdBy: 'admin',
        triggeredBy: null,
        state: 'running',
      },
      [
        { id: 'ins_a', hostId: 'host_a', batch: 0, state: 'queued' as const },
        { id: 'ins_b', hostId: 'host_b', batch: 1, state: 'pending' as const },
      ].map((i) => ({
        ...i,
        app: 'web',
        version: 2,
        createdBy: 'admin',
        deploymentId: 'dep_1',
        purpose: 'deploy' as const,
        fromVersion: 1,
      })),
      { lock: true },
    );
    await store.installs.mark('ins_a', { state: 'queued', sentAt: long }, ['queued']);

    // The fault: qa-1's agent asks "still wanted?" and is told to go ahead just
    // after the driver read the wave and just before it marks qa-1 skipped.
    const installs = new Proxy(store.installs, {
      get(target, name, receiver) {
        if (name !== 'mark') {
          const value: unknown = Reflect.get(target, name, receiver);
          return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
        }
        return async (...args: Parameters<InstallStore['mark']>) => {
          const [id, patch] = args;
          if (id === 'ins_a' && patch.state === 'skipped') {
            await target.mark('ins_a', { state: 'running', startedAt: new Date().toISOString() }, [
              ...UNSTARTED_INSTALL_STATES,
            ]);
          }
          return target.mark(...args);
        };
      },
    });
    const racing = new Proxy(store, {
      get: (target, name, receiver) =>
        name === 'installs' ? installs : (Reflect.get(target, name, receiver) as unknown),
    });

    const sent: { host: string; migrate: boolean }[] = [];
    const dispatcher = {
      send: (install: { host: string }, _bundle: unknown, _host: unknown, options = {}) => {
        sent.push({
          host: install.host,
          migrate: (options as { migrate?: boolean }).migrate === true,
        });
        return Promise.resolve();
      },
    } as unknown as InstallDispatcher;
    let now = Date.parse('2026-06-01T00:00:00.000Z');
    const driver = new RolloutDriver(
      racing,
      { get: () => Promise.resolve(BUNDLE) },
      dispatcher,
      {} as VariableService,
      { info: () => undefined, warn: () => undefined, error: () => undefined },
      {
        replicaId: 'r1',
        leaseMs: 60_000,
        tickMs: 60_000,
        clock: () => now,
      },
    );
    try {
      // The first look gives qa-1 a fresh wait; past offlineTimeout it is given up on.
      driver.wake();
      await until(
        'the first look',
        async () => (await store.deployments.get('dep_1'))?.leaseOwner === 'r1',
      );
      now += 5_000;
      driver.wake();
      await until('the deployment to end, or another host to be sent the job', async () => {
        const deployment = await store.deployments.get('dep_1');
        return (
          (deployment !== undefined && !isActiveDeployment(deployment.state)) || sent.length > 0
        );
      });
    } finally {
      await driver.close();
    }
    expect(sent.filter((s) => s.host === 'qa-2')).toEqual([]);
    const ended = await store.deployments.get('dep_1');
    expect(ended?.state).toBe('failed');
    expect(ended?.error).toContain('qa-1 went away while installing web@2, before its migrations');
    const a = await store.installs.get('ins_a');
    expect([a?.state, a?.startedAt === null]).toEqual(['skipped', false]);
    expect((await store.installs.get('ins_b'))?.state).toBe('cancelled');
  });
});

describe('RolloutDriver, a queued deployment that would go back across migrations', () => {
  it('is checked again when it starts: an auto-promotion queued before the migrations ran ends failed', async () => {
    const bundles: Record<number, BundleDetail> = {
      12: { app: 'cart', version: 12, manifest: { role: 'cart' } } as unknown as BundleDetail,
      13: {
        app: 'cart',
        version: 13,
        manifest: { role: 'cart', migrate: ['node migrate.js'] },
      } as unknown as BundleDetail,
    };
    await store.hosts.create({
      id: 'host_a',
      name: 'prod-1',
      env: 'prod',
      roles: ['cart'],
      vars: {},
    });
    const strategy = { batch: 1, maxFailures: 0, rollbackOnFailure: false, offlineTimeout: '1m' };
    const base = { app: 'cart', env: 'prod', strategy, fromVersion: 11, createdBy: 'admin' };
    // cart@13 rolls out, holding the lock; its migrations have not run yet.
    await store.deployments.create(
      { ...base, id: 'dep_13', version: 13, kind: 'promote', state: 'running' },
      [
        {
          id: 'ins_13',
          hostId: 'host_a',
          app: 'cart',
          version: 13,
          createdBy: 'admin',
          deploymentId: 'dep_13',
          purpose: 'deploy',
          batch: 0,
          fromVersion: 11,
          state: 'queued',
        },
      ],
      { lock: true },
    );
    // QA marks cart@12 passed: its auto-promotion queues behind cart@13 (nothing
    // had migrated when it was made, so it passed the check then).
    await new Promise((resolve) => setTimeout(resolve, 5));
    await store.deployments.create(
      {
        ...base,
        id: 'dep_12',
        version: 12,
        kind: 'auto-promote',
        state: 'pending',
        createdBy: 'policy:prod/autoPromote',
        triggeredBy: 'qa',
      },
      [],
      { lock: false },
    );
    // cart@13 migrates on prod-1, and succeeds.
    const at = new Date().toISOString();
    await store.installs.recordStep('ins_13', { kind: 'started', step: 'migrate', at });
    await store.installs.recordStep('ins_13', {
      kind: 'finished',
      step: 'migrate',
      ok: true,
      exitCode: 0,
      durationMs: 5,
      error: null,
      at,
    });
    await store.installs.finish('ins_13', { ok: true, rolledBack: false, error: null, at });
    await store.deployments.update('dep_13', { state: 'succeeded', finishedAt: at });
    await store.deployments.releaseLock('cart', 'prod', 'dep_13');

    const sent: string[] = [];
    const driver = new RolloutDriver(
      store,
      { get: (_app: string, version: number) => Promise.resolve(bundles[version]!) },
      {
        send: (install: { id: string }) => Promise.resolve(void sent.push(install.id)),
      } as unknown as InstallDispatcher,
      new VariableService(store),
      { info: () => undefined, warn: () => undefined, error: () => undefined },
      { replicaId: 'r1', leaseMs: 60_000, tickMs: 60_000 },
    );
    try {
      driver.wake();
      await until('cart@12 to start or end', async () => {
        const d = await store.deployments.get('dep_12');
        return d?.state !== 'pending' || sent.length > 0;
      });
    } finally {
      await driver.close();
    }
    const ended = await store.deployments.get('dep_12');
    expect(ended?.state).toBe('failed');
    expect(ended?.error).toContain('Migrations ran in prod since cart@12: cart@13 (on prod-1');
    expect(ended?.error).toContain('ferry promote cart@12 --yes goes back anyway');
    expect(await store.installs.list({ deploymentId: 'dep_12' })).toEqual([]);
    expect(sent).toEqual([]);
  });
});

describe('RolloutDriver, a ferry install its server did not send', () => {
  it('sends again an install by hand left unsent (its server died before sending it), and fails one whose sending began, once they are no longer fresh', async () => {
    const host = await store.hosts.create({
      id: 'host_a',
      name: 'qa-1',
      env: 'qa',
      roles: ['web'],
      vars: {},
    });
    // Recorded, then the server died before dispatcher.send; and one whose
    // sending began and never completed (the server died in it, or the
    // transport refused it and the caller was told so).
    for (const id of ['ins_hand', 'ins_half'])
      await store.installs.create({
        id,
        hostId: host.id,
        app: 'web',
        version: 2,
        createdBy: 'admin',
        fromVersion: 1,
        state: 'pending',
      });
    await store.installs.mark('ins_half', { state: 'pending', sentAt: 'T1' }, ['pending']);
    const sent: string[] = [];
    let now = Date.now();
    const driver = new RolloutDriver(
      store,
      { get: () => Promise.resolve(BUNDLE) },
      {
        send: (install: { id: string }) => Promise.resolve(void sent.push(install.id)),
      } as unknown as InstallDispatcher,
      {} as VariableService,
      { info: () => undefined, warn: () => undefined, error: () => undefined },
      { replicaId: 'r1', leaseMs: 60_000, tickMs: 60_000, clock: () => now },
    );
    try {
      // Just made: the server that made it may be sending it now.
      driver.wake();
      await driver.idle();
      expect(sent).toEqual([]);
      now += 150_000;
      driver.wake();
      await until('the install to be sent again', () => sent.length > 0);
    } finally {
      await driver.close();
    }
    expect(sent).toEqual(['ins_hand']);
    expect(await store.installs.get('ins_half')).toMatchObject({
      state: 'failed',
      error: expect.stringContaining('its sending did not complete') as string,
    });
  });
});

describe('RolloutDriver, what it reads of the hosts', () => {
  it('reads each tick only the hosts of the deployments under way, a host two of them share once', async () => {
    // A fleet of 40 hosts; two rollouts under way, on three hosts each, one of them shared.
    const at = new Date().toISOString();
    for (let n = 1; n <= 40; n++) {
      const id = `host_${n}`;
      await store.hosts.create({
        id,
        name: `prod-${n}`,
        env: 'prod',
        roles: ['web', 'api'],
        vars: {},
      });
      await store.hosts.setPresence(id, true, at);
      await store.hosts.setFacts(
        id,
        parseHostFacts({ factsVersion: 2, apps: { web: { releases: [1], current: 1 } } }),
        at,
      );
    }
    const strategy = { batch: 10, maxFailures: 0, rollbackOnFailure: false, offlineTimeout: '1m' };
    for (const [app, hostIds] of [
      ['web', ['host_1', 'host_2', 'host_3']],
      ['api', ['host_3', 'host_4', 'host_5']],
    ] as const) {
      const id = `dep_${app}`;
      await store.deployments.create(
        {
          id,
          app,
          version: 2,
          env: 'prod',
          kind: 'deploy',
          strategy,
          fromVersion: 1,
          createdBy: 'admin',
          state: 'running',
        },
        hostIds.map((hostId) => ({
          id: `ins_${app}_${hostId}`,
          hostId,
          app,
          version: 2,
          createdBy: 'admin',
          deploymentId: id,
          purpose: 'deploy' as const,
          batch: 0,
          fromVersion: 1,
          state: 'queued' as const,
        })),
        { lock: true },
      );
      for (const hostId of hostIds)
        await store.installs.mark(`ins_${app}_${hostId}`, { state: 'queued', sentAt: at }, [
          'queued',
        ]);
    }

    // Counts the host records the store hands out (a wrapper that counts; it changes nothing).
    let hostsRead = 0;
    let factsRead = 0;
    const counted = <T>(records: T): T => {
      const read = Array.isArray(records) ? records : records === undefined ? [] : [records];
      hostsRead += read.length;
      factsRead += read.filter((h) => (h as HostRecord).facts !== null).length;
      return records;
    };
    const hosts = new Proxy(store.hosts, {
      get(target, name, receiver) {
        const value: unknown = Reflect.get(target, name, receiver);
        if (typeof value !== 'function') return value;
        const call = (value as (...args: unknown[]) => unknown).bind(target);
        return ['list', 'get', 'findByName'].includes(String(name))
          ? async (...args: unknown[]) => counted(await call(...args))
          : call;
      },
    });
    const counting = new Proxy(store, {
      get: (target, name, receiver) =>
        name === 'hosts' ? hosts : (Reflect.get(target, name, receiver) as unknown),
    });
    const driver = new RolloutDriver(
      counting,
      {
        get: (app: string, version: number) =>
          Promise.resolve({ app, version, manifest: { role: app } } as unknown as BundleDetail),
      },
      { send: () => Promise.resolve() } as unknown as InstallDispatcher,
      {} as VariableService,
      { info: () => undefined, warn: () => undefined, error: () => undefined },
      { replicaId: 'r1', leaseMs: 60_000, tickMs: 60_000 },
    );
    const ticks = 5;
    try {
      for (let i = 0; i < ticks; i++) {
        driver.wake();
        await driver.idle();
      }
    } finally {
      await driver.close();
    }
    // Both are still waiting on their hosts, and were looked at every tick.
    for (const app of ['web', 'api'])
      expect((await store.deployments.get(`dep_${app}`))?.state).toBe('running');
    // Five distinct hosts a tick, not the fleet once per deployment (2 × 40 a tick).
    expect(hostsRead).toBe(ticks * 5);
    // And without their facts, which a tick does not use (a thousand hosts' JSON a tick).
    expect(factsRead).toBe(0);
  });
});

describe('RolloutDriver, what it reads of the installs', () => {
  it("reads no install's steps each tick, unless the bundle's migrations gate the rollout", async () => {
    // One rollout on 20 hosts, half of them done, each done one with its ten steps recorded.
    const at = new Date().toISOString();
    const installs = [];
    for (let n = 1; n <= 20; n++) {
      const hostId = `host_${n}`;
      await store.hosts.create({
        id: hostId,
        name: `prod-${n}`,
        env: 'prod',
        roles: ['web'],
        vars: {},
      });
      await store.hosts.setPresence(hostId, true, at);
      installs.push({
        id: `ins_${n}`,
        hostId,
        app: 'web',
        version: 2,
        createdBy: 'admin',
        deploymentId: 'dep_web',
        purpose: 'deploy' as const,
        batch: 0,
        fromVersion: 1,
        state: 'queued' as const,
      });
    }
    const strategy = {
      batch: '100%',
      maxFailures: 0,
      rollbackOnFailure: false,
      offlineTimeout: '1m',
    };
    await store.deployments.create(
      {
        id: 'dep_web',
        app: 'web',
        version: 2,
        env: 'prod',
        kind: 'deploy',
        strategy,
        fromVersion: 1,
        createdBy: 'admin',
        state: 'running',
      },
      installs,
      { lock: true },
    );
    for (let n = 1; n <= 20; n++) {
      await store.installs.mark(`ins_${n}`, { state: 'queued', sentAt: at }, ['queued']);
      if (n > 10) continue;
      for (const step of [
        'prepare',
        'fetch',
        'verify',
        'unpack',
        'link-shared',
        'install',
        'switch',
        'start',
        'health',
        'prune',
      ]) {
        await store.installs.recordStep(`ins_${n}`, { kind: 'started', step, at });
        await store.installs.recordStep(`ins_${n}`, {
          kind: 'finished',
          step,
          ok: true,
          exitCode: null,
          durationMs: 1,
          error: null,
          at,
        });
      }
      await store.installs.finish(`ins_${n}`, { ok: true, rolledBack: false, error: null, at });
    }

    // Counts the steps of the install records the store hands out (a wrapper that counts; it changes nothing).
    const tick = async (manifest: object): Promise<number> => {
      let stepsRead = 0;
      const counted = (records: unknown): unknown => {
        for (const r of Array.isArray(records) ? records : records ? [records] : [])
          stepsRead += (r as { steps: unknown[] }).steps.length;
        return records;
      };
      const counting = new Proxy(store, {
        get: (target, name, receiver) =>
          name === 'installs'
            ? new Proxy(store.installs, {
                get(inner, method) {
                  const value: unknown = Reflect.get(inner, method);
                  if (typeof value !== 'function') return value;
                  const call = (value as (...args: unknown[]) => unknown).bind(inner);
                  return ['list', 'get', 'listForRelease'].includes(String(method))
                    ? async (...args: unknown[]) => counted(await call(...args))
                    : call;
                },
              })
            : (Reflect.get(target, name, receiver) as unknown),
      });
      const driver = new RolloutDriver(
        counting,
        {
          get: (app: string, version: number) =>
            Promise.resolve({ app, version, manifest } as unknown as BundleDetail),
        },
        { send: () => Promise.resolve() } as unknown as InstallDispatcher,
        {} as VariableService,
        { info: () => undefined, warn: () => undefined, error: () => undefined },
        { replicaId: 'r1', leaseMs: 60_000, tickMs: 60_000 },
      );
      try {
        driver.wake();
        await driver.idle();
      } finally {
        await driver.close();
      }
      return stepsRead;
    };

    // No migrations: the states are all a tick needs (it read 100 steps a tick, a
    // thousand-host rollout's ten thousand at each install's end).
    expect(await tick({ role: 'web' })).toBe(0);
    // Still waiting on the ten hosts not done.
    expect((await store.deployments.get('dep_web'))?.state).toBe('running');
    // With migrations, the gate looks for the host that ran them: the steps are read.
    expect(await tick({ role: 'web', migrate: ['node migrate.js'] })).toBeGreaterThanOrEqual(100);
  });
});

/**
 * A running deployment of web@2 to prod on hosts `host_<n>` (present), its
 * installs `ins_<n>` pending, in batches as `batchOf` says (all in the first).
 */
