import type { Kysely } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseHostFacts } from '../src/protocol/host-facts.js';
import type { BundleDetail } from '../src/protocol/api.js';
import type { InstallJob } from '../src/protocol/messages.js';
import { isOpenInstall } from '../src/protocol/lifecycle.js';
import { DeploymentService } from '../src/server/deployments/deployment-service.js';
import { InstallDispatcher } from '../src/server/deployments/install-dispatcher.js';
import { RolloutDriver } from '../src/server/deployments/rollout-driver.js';
import { environmentSchema } from '../src/server/environment-config.js';
import { VariableService } from '../src/server/variable-service.js';
import type { Database } from '../src/store/schema.js';
import type { DeploymentStore, InstallStore, Store, StoredInstall } from '../src/store/store.js';
import type { ServerTransport } from '../src/transport/transport.js';
import { waitFor } from './helpers/cluster.js';
import { STORE_DIALECTS, type StoreUnderTest } from './helpers/store-dialects.js';

/**
 * The rollout driver and the deployment service in process, over a real store
 * of each dialect, with a transport that keeps the jobs it is given (no agent:
 * the test reports each install's end itself). What a deployment freezes, and
 * what a lost race leaves behind.
 */

const QA = environmentSchema.parse({
  name: 'qa',
  autoDeploy: true,
  strategy: { batch: 1, maxFailures: 0, rollbackOnFailure: true, offlineTimeout: '10m' },
});

/** A bundle of `web` whose service reads REDIS_HOST. */
function bundle(version: number): BundleDetail {
  return {
    app: 'web',
    version,
    label: null,
    commit: null,
    dirty: null,
    sha256: String(version).padStart(64, '0'),
    size: 1,
    fileCount: 1,
    createdAt: '2026-12-01T00:00:00.000Z',
    pushedAt: '2026-12-01T00:00:00.000Z',
    pushedBy: 'alice',
    signatures: [],
    manifest: {
      role: 'web',
      service: { command: 'node server.js', env: { REDIS_HOST: '${REDIS_HOST}' } },
    },
  };
}

const ADMIN = { name: 'admin', role: 'admin' as const, env: null };

interface Rig {
  store: Store;
  jobs: { hostId: string; job: InstallJob }[];
  driver: RolloutDriver;
  deployments: DeploymentService;
}

/** Builds the rig over `store` (a wrapper may inject a fault) and starts its driver. */
function rig(store: Store): Rig {
  const jobs: { hostId: string; job: InstallJob }[] = [];
  const transport: ServerTransport = {
    send: (hostId, job) => {
      jobs.push({ hostId, job });
      return Promise.resolve();
    },
    onEvent: () => undefined,
    onPresence: () => undefined,
    connectedHosts: () => [],
    disconnect: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  const variables = new VariableService(store);
  const bundles = { get: (_app: string, version: number) => Promise.resolve(bundle(version)) };
  const dispatcher = new InstallDispatcher(store, transport, variables);
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const driver = new RolloutDriver(store, bundles, dispatcher, variables, quiet, {
    replicaId: 'replica_test',
    leaseMs: 60_000,
    tickMs: 20,
  });
  const verdicts = {
    verdictOf: () => Promise.resolve('pending' as const),
    markByServer: () => Promise.resolve(false),
  };
  // No bus: the driver's own ticks (every 20 ms) pick up what is created.
  const deployments = new DeploymentService(store, [QA], bundles, variables, verdicts);
  return { store, jobs, driver, deployments };
}

async function setRedisHost(store: Store, value: string): Promise<void> {
  await store.variables.set({
    name: 'REDIS_HOST',
    scope: { kind: 'env', value: 'qa' },
    value,
    secret: false,
    updatedAt: new Date().toISOString(),
    updatedBy: 'admin',
  });
}

/** Ends a sent install as its host would report it. */
async function hostEnds(store: Store, install: StoredInstall, ok: boolean): Promise<void> {
  await store.installs.finish(install.id, {
    ok,
    rolledBack: false,
    error: ok ? null : 'health check failed',
    at: new Date().toISOString(),
  });
}

/** The install of a deployment on a host once its job was sent. */
function sent(store: Store, deploymentId: string, hostId: string): Promise<StoredInstall> {
  return waitFor(`the job of ${deploymentId} to ${hostId}`, async () => {
    const [install] = await store.installs.list({ deploymentId, hostId });
    return install?.state === 'queued' ? install : undefined;
  });
}

/** Snapshot rows whose install does not exist: what a refused deployment must not leave. */
async function orphanSnapshots(store: Store): Promise<number> {
  const db = (store as unknown as { db: Kysely<Database> }).db;
  const rows = await db
    .selectFrom('install_snapshots')
    .select('install_id')
    .where('install_id', 'not in', db.selectFrom('installs').select('id'))
    .execute();
  return rows.length;
}

for (const dialect of STORE_DIALECTS) {
  describe.skipIf(!dialect.available)(`a rollout over ${dialect.name}`, () => {
    let under: StoreUnderTest;
    let running: Rig | undefined;

    beforeEach(async () => {
      under = await dialect.open();
      for (const name of ['qa-1', 'qa-2']) {
        await under.store.hosts.create({
          id: `host_${name}`,
          name,
          env: 'qa',
          roles: ['web'],
          vars: {},
        });
        await under.store.hosts.setPresence(`host_${name}`, true, new Date().toISOString());
      }
      await setRedisHost(under.store, 'a');
    });

    afterEach(async () => {
      await running?.driver.close();
      running = undefined;
      await under.close();
    });

    it('freezes a queued deployment when it starts: every batch gets the variables of that moment, and a refusal leaves no snapshot', async () => {
      running = rig(under.store);
      const { store, deployments, driver, jobs } = running;
      driver.start();
      const [first] = await deployments.afterPush(bundle(1), 'alice');
      expect(first).toMatchObject({ state: 'running' });
      // Queued behind it: the lock refused it, and nothing of its plan is recorded.
      const [queued] = await deployments.afterPush(bundle(2), 'alice');
      expect(queued).toMatchObject({ state: 'pending' });
      expect(await orphanSnapshots(store)).toBe(0);

      // It waits while the variable changes; it starts once the first one ends.
      await setRedisHost(store, 'b');
      await hostEnds(store, await sent(store, first!.id!, 'host_qa-1'), true);
      await hostEnds(store, await sent(store, first!.id!, 'host_qa-2'), true);
      const one = await sent(store, queued!.id!, 'host_qa-1');
      // Changed again while its first batch runs: the second batch keeps what it froze.
      await setRedisHost(store, 'c');
      await hostEnds(store, one, true);
      const two = await sent(store, queued!.id!, 'host_qa-2');
      const varsOf = (install: StoredInstall) =>
        jobs.filter((j) => j.job.installId === install.id).map((j) => j.job.vars.REDIS_HOST);
      expect(varsOf(one)).toEqual(['b']);
      expect(varsOf(two)).toEqual(['b']);
      expect((await store.installs.getSnapshot(two.id))?.vars).toEqual({ REDIS_HOST: 'b' });
      expect(await orphanSnapshots(store)).toBe(0);

      // A refused `ferry deploy` leaves none either.
      await expect(
        deployments.deploy(ADMIN, { app: 'web', version: 1, env: 'qa' }),
      ).rejects.toMatchObject({ code: 'E_DEPLOY_LOCKED' });
      expect(await orphanSnapshots(store)).toBe(0);
    });

    it('keeps how a deployment resolves its variables (--refresh-vars) on its record', async () => {
      running = rig(under.store);
      const made = await running.deployments.deploy(ADMIN, {
        app: 'web',
        version: 1,
        env: 'qa',
        refreshVars: true,
      });
      expect((await running.store.deployments.get(made.id))?.refreshVars).toBe(true);
      const [auto] = await running.deployments.afterPush(bundle(2), 'alice');
      expect((await running.store.deployments.get(auto!.id!))?.refreshVars).toBe(false);
    });

    it('leaves no revert install behind when a cancel lands as the rollout stops', async () => {
      // A cancel from another replica, landing just before the rollout records its reverts.
      let cancelled = false;
      const cancelFirst = async (id: string) => {
        if (cancelled) return;
        cancelled = true;
        await under.store.deployments.update(
          id,
          { state: 'cancelled', finishedAt: new Date().toISOString(), error: 'cancelled by bob' },
          { from: ['pending', 'running'] },
        );
      };
      const recording = new Proxy(under.store.installs, {
        get(target, name, receiver) {
          if (name === 'createMany') {
            return async (made: Parameters<InstallStore['createMany']>[0]) => {
              const revert = made.find((i) => i.purpose === 'revert');
              if (revert?.deploymentId) await cancelFirst(revert.deploymentId);
              return target.createMany(made);
            };
          }
          return Reflect.get(target, name, receiver) as unknown;
        },
      });
      const updating = new Proxy(under.store.deployments, {
        get(target, name, receiver) {
          if (name === 'update') {
            return async (...args: Parameters<DeploymentStore['update']>) => {
              if (args[1].phase === 'reverting') await cancelFirst(args[0]);
              return target.update(...args);
            };
          }
          return Reflect.get(target, name, receiver) as unknown;
        },
      });
      const store = new Proxy(under.store, {
        get(target, name, receiver) {
          if (name === 'installs') return recording;
          if (name === 'deployments') return updating;
          return Reflect.get(target, name, receiver) as unknown;
        },
      });
      running = rig(store);
      running.driver.start();
      // qa-1 ran web@1 before: the stopped rollout would put it back.
      const first = await running.deployments.deploy(ADMIN, { app: 'web', version: 1, env: 'qa' });
      await hostEnds(store, await sent(store, first.id, 'host_qa-1'), true);
      await hostEnds(store, await sent(store, first.id, 'host_qa-2'), true);
      await waitFor('web@1 to succeed', async () =>
        (await store.deployments.get(first.id))?.state === 'succeeded' ? true : undefined,
      );
      await under.store.hosts.setFacts(
        'host_qa-1',
        parseHostFacts({ apps: { web: { current: 1 } } }),
        new Date().toISOString(),
      );
      const second = await running.deployments.deploy(ADMIN, {
        app: 'web',
        version: 2,
        env: 'qa',
      });
      await hostEnds(store, await sent(store, second.id, 'host_qa-1'), true);
      await hostEnds(store, await sent(store, second.id, 'host_qa-2'), false);
      await waitFor('the cancel to land', () => Promise.resolve(cancelled || undefined));
      await running.driver.close();
      const record = await under.store.deployments.get(second.id);
      expect(record).toMatchObject({ state: 'cancelled', phase: 'rollout' });
      const installs = await under.store.installs.list({ deploymentId: second.id });
      expect(installs.filter((i) => isOpenInstall(i.state))).toEqual([]);
      expect(installs.map((i) => i.purpose)).toEqual(['deploy', 'deploy']);
    });
  });
}
