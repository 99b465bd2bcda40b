import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BundleDetail } from '../src/protocol/api.js';
import type { StrategyRecord } from '../src/protocol/deployment-api.js';
import type { FerryError } from '../src/protocol/errors.js';
import { isActiveDeployment } from '../src/protocol/lifecycle.js';
import { rollBackBakingDeployment } from '../src/server/deployments/bake-decisions.js';
import { RESTARTS_DURING_BAKE } from '../src/server/deployments/bake-watch.js';
import { DeploymentService } from '../src/server/deployments/deployment-service.js';
import type { InstallDispatcher } from '../src/server/deployments/install-dispatcher.js';
import { RolloutDriver } from '../src/server/deployments/rollout-driver.js';
import { environmentSchema } from '../src/server/environment-config.js';
import { VariableService } from '../src/server/variable-service.js';
import type { VerdictService } from '../src/server/verdict-service.js';
import type { StoredDeployment, StoredInstall, Store } from '../src/store/store.js';
import type { DeploymentPatch } from '../src/store/deployment-store.js';
import { STORE_DIALECTS, type StoreUnderTest } from './helpers/store-dialects.js';

/**
 * Bake time, driven by the real rollout driver over a real store (both
 * dialects): web@2 rolls out to four prod hosts in batches of two, then bakes.
 * The hosts are stood in for by a dispatcher that has each install succeed
 * at once (the transport and agents are tested elsewhere). The health that
 * agents report is written with `store.health.record(...)`, the very call the
 * server makes when an agent reports its services' health (the agent side is
 * not on this branch).
 */

const HOSTS = ['prod-1', 'prod-2', 'prod-3', 'prod-4'];
const BUNDLE = (version: number) =>
  ({
    app: 'web',
    version,
    manifest: { role: 'web' },
    sha256: 'a'.repeat(64),
    size: 1000,
    label: null,
    commit: null,
    signatures: [],
  }) as unknown as BundleDetail;
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

interface Sent {
  host: string;
  version: number;
  purpose: string;
  at: number;
}

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

for (const dialect of STORE_DIALECTS) {
  describe.skipIf(!dialect.available)(`bake time (${dialect.name})`, () => {
    let db: StoreUnderTest;
    let store: Store;
    const drivers: RolloutDriver[] = [];

    beforeEach(async () => {
      db = await dialect.open();
      store = db.store;
      for (const [n, name] of HOSTS.entries()) {
        const id = `host_${n + 1}`;
        await store.hosts.create({ id, name, env: 'prod', roles: ['web'], vars: {} });
        await store.hosts.setPresence(id, true, new Date().toISOString());
      }
    });
    afterEach(async () => {
      for (const driver of drivers.splice(0)) await driver.close();
      await db.close();
    });

    /** A driver over `over` whose "hosts" finish every install they are sent, healthy. */
    function driverOver(over: Store, sent: Sent[], replicaId = 'r1'): RolloutDriver {
      const dispatcher = {
        send: async (install: StoredInstall) => {
          sent.push({
            host: install.host,
            version: install.version,
            purpose: install.purpose,
            at: Date.now(),
          });
          const now = new Date().toISOString();
          await over.installs.mark(
            install.id,
            { state: 'succeeded', sentAt: now, startedAt: now, finishedAt: now },
            ['pending', 'queued'],
          );
          setImmediate(() => driver.wake());
        },
      } as unknown as InstallDispatcher;
      const driver = new RolloutDriver(
        over,
        { get: (_app: string, version: number) => Promise.resolve(BUNDLE(version)) },
        dispatcher,
        new VariableService(over),
        silent,
        { replicaId, leaseMs: 2_000, tickMs: 200, settleMs: 10 },
      );
      drivers.push(driver);
      return driver;
    }

    /** web@2 over web@1 on the four hosts, in batches of two, with this strategy. */
    async function deploy(strategy: Partial<StrategyRecord>): Promise<string> {
      const full: StrategyRecord = {
        batch: 2,
        maxFailures: 1,
        rollbackOnFailure: true,
        offlineTimeout: '1m',
        bake: '1500ms',
        batchBake: '0s',
        onDegrade: 'rollback',
        ...strategy,
      };
      const id = `dep_${Math.random().toString(16).slice(2, 10)}`;
      await store.deployments.create(
        {
          id,
          app: 'web',
          version: 2,
          env: 'prod',
          kind: 'deploy',
          strategy: full,
          fromVersion: 1,
          createdBy: 'alice',
          state: 'running',
        },
        HOSTS.map((_, n) => ({
          id: `ins_${id}_${n + 1}`,
          hostId: `host_${n + 1}`,
          app: 'web',
          version: 2,
          createdBy: 'alice',
          deploymentId: id,
          purpose: 'deploy' as const,
          batch: Math.floor(n / 2),
          fromVersion: 1,
          state: 'pending' as const,
        })),
        { lock: true },
      );
      return id;
    }

    /** What the agent on `host` reports of web: the call the server makes on its health event. */
    async function report(
      host: number,
      state: 'healthy' | 'failing' | 'stopped',
      answer: string | null,
      restarts = 0,
    ): Promise<void> {
      const now = new Date().toISOString();
      await store.health.record({
        hostId: `host_${host}`,
        app: 'web',
        version: 2,
        state,
        since: now,
        answer,
        restarts,
        at: now,
      });
    }

    async function stateOf(id: string) {
      return (await store.deployments.get(id))!;
    }

    it('rolls back by itself when two of four hosts turn unhealthy, and says why', async () => {
      const sent: Sent[] = [];
      // A bake far longer than the test: the degradation ends it, under any load.
      const id = await deploy({ onDegrade: 'rollback', bake: '60s' });
      const driver = driverOver(store, sent);
      driver.start();
      await until('the bake', async () => (await stateOf(id)).state === 'baking');
      const baking = await stateOf(id);
      expect(baking.bake?.batch).toBe(1);
      expect(Date.parse(baking.bake!.until)).toBeGreaterThan(Date.now());
      // The hosts all took web@2 and nothing is reverted yet.
      // (Within a batch the hosts go in no set order: the installs are listed newest first,
      // and under load those of one batch are recorded in different milliseconds.)
      expect(sent.map((s) => `${s.host}:${s.purpose}:${s.version}`).sort()).toEqual(
        HOSTS.map((h) => `${h}:deploy:2`),
      );

      await report(1, 'failing', 'HTTP 500');
      await report(2, 'healthy', null);
      await report(3, 'stopped', null);
      driver.wake();
      await until('the end', async () => !isActiveDeployment((await stateOf(id)).state));

      const ended = await stateOf(id);
      expect(ended.state).toBe('rolled_back');
      expect(ended.error).toBe(
        '2 of 4 hosts turned unhealthy during the bake (more than maxFailures 1): ' +
          'prod-1 (HTTP 500), prod-3 (stopped)',
      );
      // Before the bake's end: it did not wait the bake out.
      expect(Date.parse(ended.finishedAt!)).toBeLessThan(Date.parse(baking.bake!.until));
      // Every host went back to web@1, the last batch first.
      const reverts = sent.filter((s) => s.purpose === 'revert');
      expect(reverts.every((s) => s.version === 1)).toBe(true);
      expect(
        reverts
          .slice(0, 2)
          .map((s) => s.host)
          .sort(),
      ).toEqual(['prod-3', 'prod-4']);
      expect(
        reverts
          .slice(2)
          .map((s) => s.host)
          .sort(),
      ).toEqual(['prod-1', 'prod-2']);
      // Cleared just after the end is recorded.
      await until(
        'the alert cleared',
        async () => (await store.alerts.list({ open: true, deploymentId: id })).length === 0,
      );
      const [alert] = await store.alerts.list({ deploymentId: id });
      expect(alert).toMatchObject({
        kind: 'deployment-degraded',
        app: 'web',
        version: 2,
        env: 'prod',
        host: 'prod-1, prod-3',
        // Cleared when the deployment ended: what it was about is over.
        clearedBecause: 'the deployment ended rolled_back',
      });
      expect(alert!.clearedAt).not.toBeNull();
      expect(alert!.message).toContain('web@2 in prod: 2 of 4 hosts turned unhealthy');
      // The lock is free again, and the desired release was never set to web@2.
      expect(await store.deployments.getLock('web', 'prod')).toBeUndefined();
      expect(await store.deployments.listDesiredReleases({ app: 'web' })).toEqual([]);
    });

    it('counts a host that restarts repeatedly, and forgives one failing host within maxFailures', async () => {
      const sent: Sent[] = [];
      await report(2, 'healthy', null, 5);
      const id = await deploy({ onDegrade: 'rollback', bake: '60s' });
      const driver = driverOver(store, sent);
      driver.start();
      await until('the bake', async () => (await stateOf(id)).state === 'baking');
      // prod-2 had restarted 5 times in the hour before: counted from there.
      expect((await stateOf(id)).bake?.restarts).toEqual({
        host_1: 0,
        host_2: 5,
        host_3: 0,
        host_4: 0,
      });
      await report(1, 'failing', 'HTTP 503');
      await report(2, 'healthy', null, 5 + RESTARTS_DURING_BAKE - 1);
      driver.wake();
      await new Promise((resolve) => setTimeout(resolve, 300));
      // One host degraded, one restart short: within maxFailures 1.
      expect((await stateOf(id)).state).toBe('baking');
      await report(2, 'healthy', null, 5 + RESTARTS_DURING_BAKE);
      driver.wake();
      await until('the end', async () => !isActiveDeployment((await stateOf(id)).state));
      expect((await stateOf(id)).error).toBe(
        '2 of 4 hosts turned unhealthy during the bake (more than maxFailures 1): ' +
          `prod-1 (HTTP 503), prod-2 (restarted ${RESTARTS_DURING_BAKE} times)`,
      );
    });

    it('succeeds after the bake time, not before, when the hosts stay healthy', async () => {
      const sent: Sent[] = [];
      // prod-4's service failed before this deployment's install: not this install's doing.
      const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
      await store.health.record({
        hostId: 'host_4',
        app: 'web',
        version: 2,
        state: 'failing',
        since: hourAgo,
        answer: 'HTTP 500',
        restarts: 0,
        at: hourAgo,
      });
      const id = await deploy({ bake: '1500ms' });
      const driver = driverOver(store, sent);
      driver.start();
      await until('the bake', async () => (await stateOf(id)).state === 'baking');
      const lastSent = Math.max(...sent.map((s) => s.at));
      for (const host of [1, 2, 3]) await report(host, 'healthy', null);
      await until('the end', async () => !isActiveDeployment((await stateOf(id)).state));
      const ended = await stateOf(id);
      expect(ended.state).toBe('succeeded');
      expect(ended.error).toBeNull();
      expect(Date.parse(ended.finishedAt!) - lastSent).toBeGreaterThanOrEqual(1400);
      expect(Date.parse(ended.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(ended.bake!.until));
      expect((await store.deployments.listDesiredReleases({ app: 'web' }))[0]?.version).toBe(2);
      expect(await store.alerts.list({ deploymentId: id })).toEqual([]);
      expect(sent.filter((s) => s.purpose === 'revert')).toEqual([]);
    });

    it('with onDegrade alert, raises the alert and succeeds at the bake end; the alert stays open', async () => {
      const sent: Sent[] = [];
      const id = await deploy({ onDegrade: 'alert', bake: '5s' });
      const driver = driverOver(store, sent);
      driver.start();
      await until('the bake', async () => (await stateOf(id)).state === 'baking');
      await report(2, 'failing', 'HTTP 500');
      await report(4, 'failing', 'timed out after 5s');
      driver.wake();
      await until('the end', async () => !isActiveDeployment((await stateOf(id)).state));
      expect((await stateOf(id)).state).toBe('succeeded');
      // The release it warns of runs on: open until a later deployment lands (AlertService).
      const open = await store.alerts.list({ open: true, deploymentId: id });
      expect(open).toHaveLength(1);
      expect(open[0]).toMatchObject({ kind: 'deployment-degraded', host: 'prod-2, prod-4' });
      expect(open[0]!.message).toContain('prod-2 (HTTP 500), prod-4 (timed out after 5s)');
      expect(sent.filter((s) => s.purpose === 'revert')).toEqual([]);
    });

    it('with batchBake, a bad first batch stops before the second batch is sent', async () => {
      const sent: Sent[] = [];
      const id = await deploy({ batchBake: '60s', bake: '0s', maxFailures: 0 });
      const driver = driverOver(store, sent);
      driver.start();
      await until('the first batch bake', async () => (await stateOf(id)).state === 'baking');
      expect((await stateOf(id)).bake?.batch).toBe(0);
      expect(sent.map((s) => s.host).sort()).toEqual(['prod-1', 'prod-2']);
      await report(2, 'failing', 'HTTP 502');
      driver.wake();
      await until('the end', async () => !isActiveDeployment((await stateOf(id)).state));
      const ended = await stateOf(id);
      expect(ended.state).toBe('rolled_back');
      expect(ended.error).toContain('1 of 2 hosts turned unhealthy during the bake');
      // prod-3 and prod-4 were never sent web@2.
      expect(sent.map((s) => `${s.host}:${s.purpose}`).sort()).toEqual([
        'prod-1:deploy',
        'prod-1:revert',
        'prod-2:deploy',
        'prod-2:revert',
      ]);
      const installs = await store.installs.list({ deploymentId: id });
      expect(
        installs.filter((i) => i.purpose === 'deploy' && i.batch === 1).map((i) => i.state),
      ).toEqual(['cancelled', 'cancelled']);
    });

    it('with batchBake, a healthy first batch lets the second go after its bake', async () => {
      const sent: Sent[] = [];
      const id = await deploy({ batchBake: '1s', bake: '0s' });
      const driver = driverOver(store, sent);
      driver.start();
      await until('the end', async () => !isActiveDeployment((await stateOf(id)).state));
      expect((await stateOf(id)).state).toBe('succeeded');
      const first = sent.filter((s) => s.host === 'prod-2')[0]!.at;
      const second = sent.filter((s) => s.host === 'prod-3')[0]!.at;
      expect(second - first).toBeGreaterThanOrEqual(900);
      // The last batch bakes too (for the longer of bake and batchBake).
      const last = Math.max(...sent.map((s) => s.at));
      expect(Date.parse((await stateOf(id)).finishedAt!) - last).toBeGreaterThanOrEqual(900);
    });

    it('with batchBake, a last batch over before it is sent (its hosts cut off) still gets its bake', async () => {
      const sent: Sent[] = [];
      const now = new Date().toISOString();
      await store.hosts.cutOff('host_3', now);
      await store.hosts.cutOff('host_4', now);
      const id = await deploy({ batchBake: '500ms', bake: '1500ms' });
      const driver = driverOver(store, sent);
      driver.start();
      await until('the end', async () => !isActiveDeployment((await stateOf(id)).state));
      const ended = await stateOf(id);
      expect(ended.state).toBe('partial');
      expect(sent.map((s) => s.host).sort()).toEqual(['prod-1', 'prod-2']);
      // The last batch's bake (batch 1, the longer of bake and batchBake) ran to its end.
      expect(ended.bake?.batch).toBe(1);
      expect(Date.parse(ended.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(ended.bake!.until));
      expect(Date.parse(ended.finishedAt!) - Math.max(...sent.map((s) => s.at))).toBeGreaterThan(
        1_900,
      );
    });

    describe('with onDegrade pause', () => {
      const admin = { name: 'alice', role: 'admin' as const, env: null };
      function service(): DeploymentService {
        return new DeploymentService(
          store,
          [environmentSchema.parse({ name: 'prod' })],
          { get: (_app: string, version: number) => Promise.resolve(BUNDLE(version)) },
          new VariableService(store),
          { verdictOf: () => Promise.resolve('none') } as unknown as VerdictService,
        );
      }

      async function pausedDeployment(
        sent: Sent[],
      ): Promise<{ id: string; driver: RolloutDriver }> {
        const id = await deploy({ onDegrade: 'pause', bake: '3s' });
        const driver = driverOver(store, sent);
        driver.start();
        await until('the bake', async () => (await stateOf(id)).state === 'baking');
        await report(1, 'failing', 'HTTP 500');
        await report(3, 'failing', 'HTTP 500');
        driver.wake();
        await until('the pause', async () => (await stateOf(id)).state === 'paused');
        return { id, driver };
      }

      it('pauses, holds the lock past the bake end, and finishes when a person resumes it', async () => {
        const sent: Sent[] = [];
        const { id } = await pausedDeployment(sent);
        const paused = await stateOf(id);
        expect(paused.error).toMatch(
          /^2 of 4 hosts turned unhealthy during the bake .*: prod-1 \(HTTP 500\), prod-3 \(HTTP 500\); waiting for ferry deployments resume\|rollback$/,
        );
        // Past the bake's end it still waits, holding the lock, and its lease
        // renewed (2 s long, and 2.5 s have passed).
        await new Promise((resolve) => setTimeout(resolve, 2_500));
        expect((await stateOf(id)).state).toBe('paused');
        expect((await store.deployments.getLock('web', 'prod'))?.deploymentId).toBe(id);
        expect(Date.parse((await stateOf(id)).leaseExpiresAt!)).toBeGreaterThan(Date.now());
        expect((await stateOf(id)).leaseOwner).toBe('r1');
        await expect(service().rollBackBaking(admin, 'dep_nope')).rejects.toMatchObject({
          code: 'E_DEPLOYMENT_NOT_FOUND',
        });

        // `ferry rollback` meanwhile is told what ends the pause (not --wait-lock).
        const locked = (await service()
          .rollback(admin, { app: 'web', env: 'prod', to: 1 })
          .catch((err: unknown) => err)) as FerryError;
        expect(locked).toMatchObject({ code: 'E_DEPLOY_LOCKED', details: { state: 'paused' } });
        expect(locked.message).toContain(
          `it is paused after a bad bake: ferry deployments resume ${id} or ferry deployments rollback ${id}`,
        );
        expect(await store.alerts.list({ open: true, deploymentId: id })).toHaveLength(1);
        const answer = await service().resume(admin, id);
        expect(answer.state).toBe('running');
        // A person let it go on: the release its alert warns of runs on, so it stays open.
        expect(await store.alerts.list({ open: true, deploymentId: id })).toHaveLength(1);
        // Why it paused stays on the record, with who let it go on.
        expect(answer.error).toBe(`${paused.error}; resumed by alice`);
        await until('the end', async () => !isActiveDeployment((await stateOf(id)).state));
        expect((await stateOf(id)).state).toBe('succeeded');
        expect((await stateOf(id)).error).toBe(`${paused.error}; resumed by alice`);
        expect(sent.filter((s) => s.purpose === 'revert')).toEqual([]);
        // Resuming what is not paused says so.
        await expect(service().resume(admin, id)).rejects.toMatchObject({
          code: 'E_DEPLOYMENT_NOT_PAUSED',
        });
        await expect(service().rollBackBaking(admin, id)).rejects.toMatchObject({
          code: 'E_DEPLOYMENT_NOT_BAKING',
        });
      });

      it('rolls back when a person says so', async () => {
        const sent: Sent[] = [];
        const { id } = await pausedDeployment(sent);
        const answer = await service().rollBackBaking(admin, id);
        expect(answer.error).toMatch(/^rolled back by alice during its bake \(2 of 4 hosts/);
        await until('the end', async () => !isActiveDeployment((await stateOf(id)).state));
        expect((await stateOf(id)).state).toBe('rolled_back');
        expect(
          sent
            .filter((s) => s.purpose === 'revert')
            .map((s) => s.host)
            .sort(),
        ).toEqual(HOSTS);
      });

      it('cancelled while paused, its degraded alert clears, saying so', async () => {
        const { id } = await pausedDeployment([]);
        expect(await store.alerts.list({ open: true, deploymentId: id })).toHaveLength(1);
        await service().cancel(admin, id);
        expect((await stateOf(id)).state).toBe('cancelled');
        expect(await store.alerts.list({ open: true, deploymentId: id })).toEqual([]);
        expect((await store.alerts.list({ deploymentId: id }))[0]?.clearedBecause).toBe(
          'the deployment ended cancelled',
        );
      });

      it('refuses a deployer in a protected environment', async () => {
        const sent: Sent[] = [];
        const { id } = await pausedDeployment(sent);
        const deployer = { name: 'bob', role: 'deployer' as const, env: null };
        await expect(service().resume(deployer, id)).rejects.toMatchObject({
          code: 'E_FORBIDDEN',
        });
        expect((await stateOf(id)).state).toBe('paused');
      });
    });

    it('a deployment queued behind a baking one waits for the bake to end, and does not replace it', async () => {
      const sent: Sent[] = [];
      const id = await deploy({ bake: '1500ms' });
      const driver = driverOver(store, sent);
      driver.start();
      await until('the bake', async () => (await stateOf(id)).state === 'baking');
      // A push of web@3 to an environment with autoDeploy: it queues behind the baking one.
      const deployments = new DeploymentService(
        store,
        [environmentSchema.parse({ name: 'prod', autoDeploy: true })],
        { get: (_app: string, version: number) => Promise.resolve(BUNDLE(version)) },
        new VariableService(store),
        {} as VerdictService,
      );
      const [queued] = await deployments.afterPush(BUNDLE(3), 'ci');
      expect(queued).toMatchObject({ env: 'prod', state: 'pending' });
      driver.wake();
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Still baking (a loaded machine may have let the bake end by now: what
      // follows, the queued one's first send after the bake's end, holds then).
      const queuedNow = await stateOf(queued!.id!);
      if ((await stateOf(id)).state === 'baking') expect(queuedNow.state).toBe('pending');
      await until(
        'the queued one to end',
        async () => !isActiveDeployment((await stateOf(queued!.id!)).state),
      );
      const baked = await stateOf(id);
      expect(baked.state).toBe('succeeded');
      expect((await stateOf(queued!.id!)).state).toBe('succeeded');
      const firstOfThree = Math.min(...sent.filter((s) => s.version === 3).map((s) => s.at));
      expect(firstOfThree).toBeGreaterThanOrEqual(Date.parse(baked.finishedAt!));
    });

    /**
     * A person acts between the driver's reading of the active deployments and
     * what it does with them: `act` runs once, on the first reading `when`
     * accepts, and the driver goes on with the copy it read before.
     */
    function raceAfterRead(
      when: (d: StoredDeployment) => boolean,
      act: (d: StoredDeployment) => Promise<void>,
    ): { done: () => boolean } {
      const list = store.deployments.list.bind(store.deployments);
      let acted = false;
      store.deployments.list = async (query) => {
        const read = await list(query);
        const target = query?.states ? read.find(when) : undefined;
        if (target && !acted) {
          acted = true;
          await act(target);
        }
        return read;
      };
      return { done: () => acted };
    }

    /**
     * Runs `act` once, with the deployment as it is then, just before the
     * driver's first write of a deployment that `when` picks: as a person
     * acting after the driver read the deployment and decided.
     */
    function raceBeforeWrite(
      when: (patch: DeploymentPatch) => boolean,
      act: (d: StoredDeployment) => Promise<void>,
    ): { done: () => boolean } {
      const update = store.deployments.update.bind(store.deployments);
      let acted = false;
      store.deployments.update = async (id, patch, options) => {
        if (!acted && when(patch)) {
          acted = true;
          await act((await store.deployments.get(id))!);
        }
        return update(id, patch, options);
      };
      return { done: () => acted };
    }

    it('a person who rolls back as the bake ends wins: the driver does not end it succeeded', async () => {
      const sent: Sent[] = [];
      const id = await deploy({ bake: '1500ms' });
      // Between the driver's look that finds the bake over and its write.
      // (Picked by the time at the driver's read, the race missed when the
      // driver's own clock passed the bake's end only later in that look.)
      const race = raceBeforeWrite(
        (patch) => patch.state === 'succeeded',
        (d) => rollBackBakingDeployment(store, d, 'alice'),
      );
      const driver = driverOver(store, sent);
      driver.start();
      await until('the end', async () => !isActiveDeployment((await stateOf(id)).state));
      expect(race.done()).toBe(true);
      const ended = await stateOf(id);
      expect(ended.state).toBe('rolled_back');
      expect(ended.error).toBe('rolled back by alice during its bake');
      // Every host went back, and web@2 never became the desired release.
      expect(
        sent
          .filter((s) => s.purpose === 'revert')
          .map((s) => s.host)
          .sort(),
      ).toEqual(HOSTS);
      expect(await store.deployments.listDesiredReleases({ app: 'web' })).toEqual([]);
      const open = (await store.installs.list({ deploymentId: id })).filter((i) =>
        ['pending', 'queued', 'running'].includes(i.state),
      );
      expect(open).toEqual([]);
    });

    it("a person who rolls back as the driver finds hosts degraded: one revert per host, the person's reason", async () => {
      const sent: Sent[] = [];
      const id = await deploy({ bake: '60s' });
      const race = raceAfterRead(
        (d) => d.state === 'baking',
        async (d) => {
          await report(1, 'failing', 'HTTP 500');
          await report(3, 'failing', 'HTTP 500');
          await rollBackBakingDeployment(store, d, 'alice');
        },
      );
      const driver = driverOver(store, sent);
      driver.start();
      await until('the end', async () => !isActiveDeployment((await stateOf(id)).state));
      expect(race.done()).toBe(true);
      const ended = await stateOf(id);
      expect(ended.state).toBe('rolled_back');
      expect(ended.error).toBe('rolled back by alice during its bake');
      const reverts = (await store.installs.list({ deploymentId: id })).filter(
        (i) => i.purpose === 'revert',
      );
      expect(reverts.map((i) => i.host).sort()).toEqual(HOSTS);
    });

    it('a person whose rollback loses to the end of a batch bake cancels nothing: every batch goes', async () => {
      const sent: Sent[] = [];
      const id = await deploy({ batchBake: '60s', bake: '0s' });
      const driver = driverOver(store, sent);
      driver.start();
      await until('the first batch bake', async () => (await stateOf(id)).state === 'baking');
      const read = await stateOf(id);
      // The driver ends the batch's bake between the person's reading and the
      // person's rollback (as it does when the bake's time is up).
      const update = store.deployments.update.bind(store.deployments);
      const racing: Store = {
        ...store,
        deployments: Object.assign(Object.create(store.deployments) as Store['deployments'], {
          update: async (...args: Parameters<Store['deployments']['update']>) => {
            await update(id, { state: 'running' }, { from: ['baking'] });
            return update(...args);
          },
        }),
      };
      await expect(rollBackBakingDeployment(racing, read, 'alice')).rejects.toMatchObject({
        code: 'E_DEPLOYMENT_NOT_BAKING',
      });
      // The second batch was not cancelled: the rollout sends it and bakes it.
      driver.wake();
      await until('the second batch', () => sent.length === 4);
      expect(sent.map((s) => `${s.host}:${s.purpose}`).sort()).toEqual(
        HOSTS.map((h) => `${h}:deploy`),
      );
      const installs = await store.installs.list({ deploymentId: id });
      expect(installs.map((i) => i.state)).toEqual(HOSTS.map(() => 'succeeded'));
    });

    it('a replica that takes over a baking deployment bakes until the same end', async () => {
      const sent: Sent[] = [];
      const id = await deploy({ bake: '2s' });
      const first = driverOver(store, sent, 'r1');
      first.start();
      await until('the bake', async () => (await stateOf(id)).state === 'baking');
      const until1 = (await stateOf(id)).bake!.until;
      // The first replica stops (gives up its lease); another one takes over.
      await first.close();
      const other = await db.another();
      const second = driverOver(other, sent, 'r2');
      second.start();
      await until('the takeover', async () => (await stateOf(id)).leaseOwner === 'r2');
      expect((await stateOf(id)).bake!.until).toBe(until1);
      expect((await stateOf(id)).state).toBe('baking');
      await until('the end', async () => !isActiveDeployment((await stateOf(id)).state));
      const ended = await stateOf(id);
      expect(ended.state).toBe('succeeded');
      expect(Date.parse(ended.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(until1));
      expect(Date.parse(ended.finishedAt!)).toBeLessThan(Date.parse(until1) + 1_500);
    });
  });
}
