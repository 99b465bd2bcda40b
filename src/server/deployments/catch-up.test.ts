import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BundleDetail } from '../../protocol/api.js';
import { parseHostFacts } from '../../protocol/host-facts.js';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import { statusLines } from '../../cli/commands/status.js';
import type { EnvironmentConfig } from '../environment-config.js';
import { RecordsService } from '../records-service.js';
import { CatchUp } from './catch-up.js';
import type { InstallDispatcher } from './install-dispatcher.js';

let dir: string;
let store: SqliteStore;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-catch-up-'));
  store = SqliteStore.open(path.join(dir, 'ferry.db'));
  await store.migrate();
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

const bundles: Record<number, BundleDetail> = {
  1: { app: 'web', version: 1, manifest: { role: 'web' } } as unknown as BundleDetail,
  2: {
    app: 'web',
    version: 2,
    manifest: { role: 'web', migrate: ['node migrate.js'] },
  } as unknown as BundleDetail,
};
const STRATEGY = { batch: 1, maxFailures: 0, rollbackOnFailure: false, offlineTimeout: '1s' };

/** qa-1 runs web@1, deployed by dep_1: the desired release. */
async function desiredV1(): Promise<void> {
  await store.hosts.create({ id: 'host_a', name: 'qa-1', env: 'qa', roles: ['web'], vars: {} });
  const base = { app: 'web', env: 'qa', strategy: STRATEGY, createdBy: 'admin' };
  await store.deployments.create(
    { ...base, id: 'dep_1', version: 1, kind: 'deploy', state: 'running', fromVersion: null },
    [],
    { lock: false },
  );
  await store.deployments.update(
    'dep_1',
    { state: 'succeeded' },
    {
      desired: { env: 'qa', app: 'web', version: 1, deploymentId: 'dep_1', updatedAt: 'T1' },
    },
  );
  await new Promise((resolve) => setTimeout(resolve, 5));
}

/** web@2's deployment over web@1 on qa-1 (`ins_2` queued), holding the lock or not. */
async function deploymentOfV2(lock: boolean): Promise<void> {
  await store.deployments.create(
    {
      app: 'web',
      env: 'qa',
      strategy: STRATEGY,
      createdBy: 'admin',
      id: 'dep_2',
      version: 2,
      kind: 'deploy',
      state: 'running',
      fromVersion: 1,
    },
    [
      {
        id: 'ins_2',
        hostId: 'host_a',
        app: 'web',
        version: 2,
        createdBy: 'admin',
        deploymentId: 'dep_2',
        purpose: 'deploy',
        batch: 0,
        fromVersion: 1,
        state: 'queued',
      },
    ],
    { lock },
  );
}

/** web@2's deployment: qa-1 its migrator, given up on, then succeeded after all; the deployment failed. */
async function migratedAfterGivenUp(): Promise<void> {
  await deploymentOfV2(false);
  const at = new Date().toISOString();
  await store.installs.mark('ins_2', { state: 'running', startedAt: at }, ['queued']);
  await store.installs.mark('ins_2', { state: 'skipped', error: 'qa-1 was offline' }, ['running']);
  await store.deployments.update('dep_2', {
    state: 'failed',
    error: 'qa-1 went away during the migrations of web@2',
  });
  for (const kind of ['started', 'finished'] as const)
    await store.installs.recordStep(
      'ins_2',
      kind === 'started'
        ? { kind, step: 'migrate', at }
        : { kind, step: 'migrate', ok: true, exitCode: 0, durationMs: 1, error: null, at },
    );
  await store.installs.finish('ins_2', { ok: true, rolledBack: false, error: null, at });
}

async function reports(current: number): Promise<void> {
  await store.hosts.setFacts(
    'host_a',
    parseHostFacts({ factsVersion: 2, apps: { web: { releases: [1, 2], current } } }),
    new Date().toISOString(),
  );
}

function catchUp(sent: string[]): CatchUp {
  return new CatchUp(
    store,
    { get: (_app: string, version: number) => Promise.resolve(bundles[version]!) },
    {
      send: (install: { version: number }) =>
        Promise.resolve(void sent.push(`@${install.version}`)),
    } as unknown as InstallDispatcher,
    { info: () => undefined, warn: () => undefined },
  );
}

describe('CatchUp, a host ahead of the desired release', () => {
  it('leaves a host that migrated after the rollout gave up on it where it is: going back would cross its migrations', async () => {
    await desiredV1();
    await migratedAfterGivenUp();
    await reports(2);
    const sent: string[] = [];
    await catchUp(sent).host('host_a');
    expect(sent).toEqual([]);
    expect(
      (await store.installs.list({ hostId: 'host_a' })).filter((i) => i.purpose === 'catch-up'),
    ).toEqual([]);
    // ferry status says it is ahead, and why it stays so.
    for (const b of Object.values(bundles))
      await store.bundles.record(
        {
          app: 'web',
          sha256: String(b.version).padStart(64, '0'),
          size: 1,
          label: null,
          commit: null,
          dirty: null,
          fileCount: 1,
          createdAt: 'T0',
          pushedBy: 'dev',
          manifest: b.manifest,
        },
        () => Promise.resolve(),
      );
    await store.hosts.setPresence('host_a', true, new Date().toISOString());
    const records = new RecordsService(store, [{ name: 'qa' } as EnvironmentConfig], {
      get: (_app: string, version: number) => Promise.resolve(bundles[version]!),
      list: () => Promise.resolve([]),
    });
    const apps = await records.status('web');
    expect(apps[0]?.environments[0]?.hosts[0]).toMatchObject({
      version: 2,
      aheadOverMigrations: [2],
    });
    expect(statusLines(apps)).toContain(
      '    qa-1  @2  unknown  (ahead of the desired @1; the migrations of @2 ran here: it stays until a deployment moves it)',
    );
  });

  it('still brings back a host ahead on a release that ran no migrations', async () => {
    await desiredV1();
    await store.deployments.create(
      {
        app: 'web',
        env: 'qa',
        strategy: STRATEGY,
        createdBy: 'admin',
        id: 'dep_3',
        version: 2,
        kind: 'deploy',
        state: 'failed',
        fromVersion: 1,
      },
      [
        {
          id: 'ins_3',
          hostId: 'host_a',
          app: 'web',
          version: 2,
          createdBy: 'admin',
          deploymentId: 'dep_3',
          purpose: 'deploy',
          state: 'queued',
        },
      ],
      { lock: false },
    );
    await store.installs.finish('ins_3', {
      ok: true,
      rolledBack: false,
      error: null,
      at: new Date().toISOString(),
    });
    await reports(2);
    const sent: string[] = [];
    await catchUp(sent).host('host_a');
    expect(sent).toEqual(['@1']);
  });
});

describe('CatchUp, a deployment ending while it looks', () => {
  it('does not take a host back to the release the deployment just replaced', async () => {
    await desiredV1();
    // web@2's deployment, holding the lock: qa-1 took it.
    await deploymentOfV2(true);
    await store.installs.finish('ins_2', {
      ok: true,
      rolledBack: false,
      error: null,
      at: new Date().toISOString(),
    });
    await reports(2);
    // The fault: the deployment ends (the new desired release, then the lock
    // let go) just after the catch-up read the desired releases.
    let first = true;
    const deployments = new Proxy(store.deployments, {
      get(target, name, receiver) {
        const value: unknown = Reflect.get(target, name, receiver);
        if (name !== 'listDesiredReleases' || typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          const read: unknown = await (value as (...a: unknown[]) => Promise<unknown>).apply(
            target,
            args,
          );
          if (first) {
            first = false;
            await store.deployments.update(
              'dep_2',
              { state: 'succeeded' },
              {
                desired: {
                  env: 'qa',
                  app: 'web',
                  version: 2,
                  deploymentId: 'dep_2',
                  updatedAt: 'T2',
                },
              },
            );
            await store.deployments.releaseLock('web', 'qa', 'dep_2');
          }
          return read;
        };
      },
    });
    const racing = new Proxy(store, {
      get: (target, name, receiver) =>
        name === 'deployments' ? deployments : (Reflect.get(target, name, receiver) as unknown),
    });
    const sent: string[] = [];
    await new CatchUp(
      racing,
      { get: (_app: string, version: number) => Promise.resolve(bundles[version]!) },
      {
        send: (install: { version: number }) =>
          Promise.resolve(void sent.push(`@${install.version}`)),
      } as unknown as InstallDispatcher,
      { info: () => undefined, warn: () => undefined },
    ).host('host_a');
    expect(sent).toEqual([]);
    expect(
      (await store.installs.list({ hostId: 'host_a' })).filter((i) => i.purpose === 'catch-up'),
    ).toEqual([]);
  });
});
