import type { HostRecord } from '../../protocol/api.js';
import { FerryError } from '../../protocol/errors.js';
import {
  ACTIVE_DEPLOYMENT_STATES,
  hasLanded,
  isFinalInstall,
  QUEUED_DEPLOYMENT_STATES,
} from '../../protocol/lifecycle.js';
import type { Store, StoredDeployment, StoredInstall } from '../../store/store.js';
import type { BundleService } from '../bundle-service.js';
import type { ResolvedVariables, VariableService } from '../variable-service.js';
import { BakeWatch } from './bake-watch.js';
import { BatchSender } from './batch-sender.js';
import { ConfigSnapshots } from './config-snapshots.js';
import { DeploymentLeases } from './deployment-leases.js';
import { assertInstallJobsFit, type InstallDispatcher } from './install-dispatcher.js';
import { LookScheduler } from './look-scheduler.js';
import {
  goOnByHand,
  migratedOn,
  migrationGate,
  refuseOverMigrations,
  runsMigrations,
} from './migration-gate.js';
import { OfflineExpiry } from './offline-expiry.js';
import { RolloutEndings } from './rollout-endings.js';
import { planInstalls, roleOf, targetHosts } from './rollout-plan.js';
import { StrandedSweep } from './stranded-sweep.js';

/** The few logging calls the driver makes (Fastify's logger fits). */
interface Logger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface RolloutDriverOptions {
  /** This server process, as lease owner: unique per replica. */
  replicaId: string;
  /** How long a lease lasts unless renewed; another replica takes over after it. */
  leaseMs: number;
  /** How often deployments are looked at, besides when something happens. */
  tickMs: number;
  /**
   * The pause before looking again when woken during a look (100 ms), or
   * four times as long as that look took when longer (up to 2 s) — unless
   * what woke it was the end of the last install the rollout waited on (its
   * batch's, or the migrator's): that is looked at at once. Every install's end wakes
   * the driver, and a look reads the whole rollout, so a thousand hosts ending
   * together cost a look per pause, not one each — and the looks, which grow
   * with the rollout, take at most a fifth of the server's time while the
   * ends keep coming, the rest being left to recording them. (At twice, the
   * looks' two reads in a thousand-host rollout were 52 of the 90 s its
   * server spent in SQLite statements, 1,094 looks.)
   */
  settleMs?: number;
  clock?: () => number;
}

/**
 * Drives deployments from the store, so that a restarted server, or another
 * replica, carries one on from where it stood. Each tick it takes (or renews)
 * the lease on every active deployment it can, and advances each one it holds:
 *
 * - a `pending` deployment (queued behind another one of its app and
 *   environment) starts when it gets the lock, with the hosts of that moment;
 * - a running one sends its current batch, waits until every host of the batch
 *   has ended (an install succeeds only once its health check passed), counts
 *   failures, and moves on to the next batch — or stops when more hosts failed
 *   than the strategy allows, and then puts back the hosts already done;
 * - a host that stays offline longer than `offlineTimeout` is skipped; the
 *   deployment then ends `partial`, and the host catches up when it returns;
 * - after the last batch (`bake`), and after each batch (`batchBake`), it
 *   stays `baking` and watches the hosts' health (`BakeWatch`): too many
 *   turning unhealthy put the hosts done back, pause it for a person, or
 *   only raise an alert, as `onDegrade` says.
 *
 * Everything it does is a conditional update or an idempotent send (a job's id
 * is its install's id), so two replicas that briefly both think they hold a
 * lease cannot make a host install twice.
 */
export class RolloutDriver {
  private readonly clock: () => number;
  private readonly snapshots: ConfigSnapshots;
  private readonly bakes: BakeWatch;
  private readonly looks: LookScheduler;
  private readonly leases: DeploymentLeases;
  private readonly sender: BatchSender;
  private readonly stranded: StrandedSweep;
  private readonly offline: OfflineExpiry;
  private readonly endings: RolloutEndings;

  constructor(
    private readonly store: Store,
    private readonly bundles: Pick<BundleService, 'get'>,
    dispatcher: InstallDispatcher,
    variables: Pick<VariableService, 'checkDeployable'>,
    private readonly logger: Logger,
    options: RolloutDriverOptions,
  ) {
    this.clock = options.clock ?? (() => Date.now());
    this.snapshots = new ConfigSnapshots(store, variables);
    this.bakes = new BakeWatch(store, logger, this.clock);
    // Made here, so that every look runs in the async context the driver was made in.
    this.looks = new LookScheduler(() => this.tick(), logger, options, this.clock);
    this.leases = new DeploymentLeases(store, logger, options);
    this.sender = new BatchSender(store, bundles, dispatcher, logger);
    this.stranded = new StrandedSweep(store, bundles, dispatcher, logger, this.clock);
    this.offline = new OfflineExpiry(store, this.leases, logger, this.clock);
    this.endings = new RolloutEndings(store, bundles, this.leases, logger, this.clock, () =>
      this.wake(),
    );
  }

  /** Starts ticking; the first tick picks up deployments a previous server left running. */
  start(): void {
    this.looks.start();
  }

  /**
   * Looks at every deployment now (something happened: an install ended, one
   * was created) — or, when a look is under way, once more after it and a
   * pause. `endedInstall`: the install whose end this is, if it is one; the
   * end of the last one a rollout waits on cuts the pause short.
   */
  wake(endedInstall?: string): void {
    this.looks.wake(endedInstall);
  }

  /** Resolves once no tick is under way (nor asked for): for tests that wait for one look. */
  async idle(): Promise<void> {
    await this.looks.idle();
  }

  /** Stops driving and gives up the leases held, so another replica (or the next start) takes over at once. */
  async close(): Promise<void> {
    await this.looks.close();
    await this.leases.releaseAll();
  }

  private async tick(): Promise<void> {
    await this.stranded
      .run(() => this.looks.closed)
      .catch((err: unknown) =>
        this.logger.error({ err }, 'sending again the installs by hand left unsent failed'),
      );
    const active = await this.store.deployments.list({ states: [...ACTIVE_DEPLOYMENT_STATES] });
    // Those that ended (cancelled, or ended by another replica) wait on nothing here.
    this.looks.forgetAllBut(new Set(active.map((d) => d.id)));
    // The hosts this tick has read, by id (undefined: removed): each is read once a tick.
    const hostsRead = new Map<string, HostRecord | undefined>();
    // Oldest first, so that deployments queued behind a lock start in order.
    for (const deployment of active.reverse()) {
      if (this.looks.closed) return;
      if (!(await this.leases.claim(deployment, this.clock()))) {
        this.looks.forget(deployment.id);
        continue;
      }
      try {
        await this.advance(deployment, hostsRead);
      } catch (err) {
        this.logger.error({ err, deploymentId: deployment.id }, 'advancing a deployment failed');
      }
    }
  }

  private async advance(
    deployment: StoredDeployment,
    hostsRead: Map<string, HostRecord | undefined>,
  ): Promise<void> {
    this.looks.forget(deployment.id);
    if (deployment.state === 'pending') return this.startPending(deployment);
    const purpose = deployment.phase === 'rollout' ? 'deploy' : 'revert';
    const migrates = await this.migrationsFirst(deployment);
    // Their steps only for the migration gate: a tick comes at every install's
    // end, and reading every host's steps each time cost a thousand-host rollout
    // more than everything else the server did.
    const listed = await this.store.installs.list({
      deploymentId: deployment.id,
      ...(migrates ? {} : { steps: false }),
    });
    const hosts = await this.hostsOf(listed, hostsRead);
    const wave = await this.offline.expire(
      deployment,
      listed.filter((i) => i.purpose === purpose),
      hosts,
    );
    // With no host at all, there is nobody to migrate: it ends `no_hosts` (`complete`).
    if (migrates && wave.length > 0) {
      // The host that migrates goes alone, before any other host is sent anything.
      const gate = migrationGate(wave, `${deployment.app}@${deployment.version}`);
      if (gate.next === 'migrate') {
        this.looks.awaitEnds(deployment.id, [gate.migrator]);
        return this.sender.send([gate.migrator], hosts, { migrate: true });
      }
      if (gate.next === 'fail') return this.endings.stopUnmigrated(deployment, wave, gate.reason);
      // Migrated, then failed (its health check, say): past maxFailures, nobody else goes.
      if (gate.migrator?.state === 'failed' && deployment.strategy.maxFailures < 1)
        return this.endings.stop(deployment, wave);
    }
    let failures = 0;
    const batches = byBatch(wave);
    for (const [index, batch] of batches.entries()) {
      if (!batch.every((i) => isFinalInstall(i.state))) {
        this.looks.awaitEnds(deployment.id, batch);
        await this.sender.send(batch, hosts);
        return;
      }
      if (deployment.phase === 'rollout') {
        failures += batch.filter((i) => i.state === 'failed').length;
        if (failures > deployment.strategy.maxFailures) return this.endings.stop(deployment, wave);
        // The bake after this batch: watching the hosts installed so far.
        const watched = batches.slice(0, index + 1).flat();
        const bake = await this.bakes.after(
          deployment,
          batch[0]?.batch ?? index,
          index === batches.length - 1,
          watched,
        );
        if (bake.next === 'roll-back') return this.endings.stop(deployment, wave, bake.reason);
        if (bake.next === 'wait') {
          if (bake.until !== undefined) this.looks.wakeAt(bake.until);
          return;
        }
      }
    }
    if (deployment.phase === 'rollout')
      return this.endings.complete(deployment, wave, hosts, migrates);
    return this.endings.completeRevert(deployment, wave);
  }

  /**
   * The hosts of a deployment's installs, by id (one removed is missing): only
   * those, and each read from the store once a tick, however many deployments
   * share it. Reading every host for every deployment made each tick cost
   * the whole fleet's records (and their facts) per rollout under way. Without
   * their facts: a tick needs a host's presence, name and variables, and
   * reading a thousand hosts' facts (JSON) at each tick was 6% of the server's
   * CPU in a thousand-host rollout.
   */
  private async hostsOf(
    installs: StoredInstall[],
    hostsRead: Map<string, HostRecord | undefined>,
  ): Promise<Map<string, HostRecord>> {
    const unread = [...new Set(installs.map((i) => i.hostId))].filter((id) => !hostsRead.has(id));
    if (unread.length > 0) {
      const found = new Map(
        (await this.store.hosts.list({ ids: unread, facts: false })).map((h) => [h.id, h]),
      );
      for (const id of unread) hostsRead.set(id, found.get(id));
    }
    const hosts = new Map<string, HostRecord>();
    for (const install of installs) {
      const host = hostsRead.get(install.hostId);
      if (host) hosts.set(host.id, host);
    }
    return hosts;
  }

  /**
   * A queued deployment: starts it once it holds the lock, planning its hosts
   * now and freezing their configuration as of now (its variables may have
   * changed, or grown past what a job carries, while it waited its turn), with
   * the refresh option it was made with. The plan and its snapshots are
   * recorded with the start, in one step: not at all when it was cancelled
   * while it waited. Unless whoever made it said yes, it is checked again for
   * going back across migrations: the deployment ahead of it may have run
   * some meanwhile, and nobody is there to say yes (it ends failed, saying so).
   */
  private async startPending(deployment: StoredDeployment): Promise<void> {
    const now = new Date(this.clock()).toISOString();
    const holder = await this.store.deployments.takeLock(
      deployment.app,
      deployment.env,
      deployment.id,
      now,
    );
    if (holder.deploymentId !== deployment.id) return;
    const bundle = await this.bundles.get(deployment.app, deployment.version);
    const hosts = targetHosts(await this.store.hosts.list(), deployment.env, roleOf(bundle));
    let frozen: Map<string, ResolvedVariables>;
    try {
      if (!deployment.migrationsConfirmed)
        await refuseOverMigrations(
          this.store,
          deployment.app,
          deployment.env,
          deployment.version,
          goOnByHand(deployment),
        );
      frozen = await this.snapshots.forDeployment(bundle, deployment.env, hosts, {
        refresh: deployment.refreshVars,
      });
      assertInstallJobsFit(bundle, hosts, frozen);
    } catch (err) {
      if (!(err instanceof FerryError)) throw err;
      return this.endings.finish(deployment, 'failed', err.message);
    }
    const installs = planInstalls(deployment, deployment.strategy, hosts);
    const started = await this.store.deployments.update(
      deployment.id,
      { state: 'running', startedAt: now },
      {
        from: QUEUED_DEPLOYMENT_STATES,
        phase: 'rollout',
        installs,
        snapshots: installs.map((i) => ({ installId: i.id, snapshot: frozen.get(i.hostId)! })),
      },
    );
    if (!started) {
      await this.store.deployments.releaseLock(deployment.app, deployment.env, deployment.id);
      return;
    }
    this.logger.info({ deploymentId: deployment.id }, 'deployment started after waiting its turn');
    this.looks.lookNow();
    this.wake();
  }

  /**
   * True when the deployment's first host must run the bundle's migrations
   * before any other is sent anything. Never for a release that was in the
   * environment before (it landed, or its migrations ran there): deploying it
   * again, going back to it or forth, reuses the data as it is.
   */
  private async migrationsFirst(deployment: StoredDeployment): Promise<boolean> {
    const bundle = await this.bundles.get(deployment.app, deployment.version);
    if (!runsMigrations(deployment, bundle)) return false;
    const earlier = (
      await this.store.deployments.list({ app: deployment.app, env: deployment.env })
    ).filter((d) => d.id !== deployment.id && d.version === deployment.version);
    for (const d of earlier) {
      if (hasLanded(d.state)) return false;
      if (migratedOn(await this.store.installs.list({ deploymentId: d.id })) !== null) return false;
    }
    return true;
  }
}

/** A wave's installs by batch, in batch order. */
function byBatch(installs: StoredInstall[]): StoredInstall[][] {
  const batches = new Map<number, StoredInstall[]>();
  for (const install of installs) {
    const batch = install.batch ?? 0;
    batches.set(batch, [...(batches.get(batch) ?? []), install]);
  }
  return [...batches.entries()].sort(([a], [b]) => a - b).map(([, items]) => items);
}
