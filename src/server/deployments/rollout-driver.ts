import { AsyncResource } from 'node:async_hooks';
import { parseDuration } from '../../bundle/manifest-schema.js';
import type { BundleDetail, HostRecord } from '../../protocol/api.js';
import type { DeploymentState } from '../../protocol/deployment-api.js';
import { FerryError } from '../../protocol/errors.js';
import {
  ACTIVE_DEPLOYMENT_STATES,
  deploymentStatesBefore,
  hasLanded,
  INSTALL_STATES,
  installStatesBefore,
  isFinalInstall,
  isOpenInstall,
  isSentInstall,
  QUEUED_DEPLOYMENT_STATES,
  ROLLING_OUT_DEPLOYMENT_STATES,
  UNSTARTED_INSTALL_STATES,
} from '../../protocol/lifecycle.js';
import type { DesiredRelease, Store, StoredDeployment, StoredInstall } from '../../store/store.js';
import type { BundleService } from '../bundle-service.js';
import type { ResolvedVariables, VariableService } from '../variable-service.js';
import { BakeWatch, clearDegradedAlert } from './bake-watch.js';
import { ConfigSnapshots } from './config-snapshots.js';
import { assertInstallJobsFit, type InstallDispatcher } from './install-dispatcher.js';
import {
  goOnByHand,
  migratedOn,
  migrationGate,
  refuseOverMigrations,
  runsMigrations,
} from './migration-gate.js';
import { planInstalls, roleOf, targetHosts } from './rollout-plan.js';
import { planReverts } from './revert-plan.js';

/** The few logging calls the driver makes (Fastify's logger fits). */
interface Logger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

/**
 * How long an install by hand may stay recorded and unsent before the sweep
 * sends it or ends it: far longer than a server takes between recording and
 * sending one, a send that waits on a broker (30 s at most) included.
 */
const STRANDED_AFTER_MS = 120_000;

/** The longest pause after a long look (see `settleMs`): an end is seen within it. */
const MAX_SETTLE_MS = 2_000;

/** The pause after a look, in looks (see `settleMs`). */
const SETTLE_PER_LOOK = 4;

/** Installs of a batch sent at once (see `sendPending`). */
const SENDS_AT_ONCE = 16;

/**
 * Runs `work` on the items, at most `limit` at a time, until one fails: none
 * is begun after that (a transport that refuses one send, waiting 30 s on a
 * broker that is down, would refuse the rest as slowly), those under way run
 * to their end. Resolves to the errors, each with its item.
 */
async function eachAtMost<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<{ item: T; err: unknown }[]> {
  let next = 0;
  const errors: { item: T; err: unknown }[] = [];
  const worker = async (): Promise<void> => {
    while (next < items.length && errors.length === 0) {
      const item = items[next++] as T;
      await work(item).catch((err: unknown) => errors.push({ item, err }));
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return errors;
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
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private tickAgain = false;
  private closed = false;
  /** Deployments this replica drives, and since when (a fresh driver gives offline hosts a fresh wait). */
  private readonly heldSince = new Map<string, number>();
  private readonly clock: () => number;
  private readonly snapshots: ConfigSnapshots;
  private readonly bakes: BakeWatch;
  /** The wake-up set for the end of the nearest bake, and when it fires. */
  private bakeTimer: { at: number; timer: NodeJS.Timeout } | undefined;
  /**
   * A tick, in the async context the driver was made in, never its waker's:
   * what a tick records is the rollout's doing, not an effect of the agent
   * message or the request that woke it (see `EventBus.withEffects`).
   */
  private readonly tickHere = AsyncResource.bind(() => this.tick());
  /**
   * Per deployment, the installs its last look waited on and that have not
   * ended since: when the last of them ends, the rollout can move on, and the
   * next look comes without the pause (a small rollout's end, or its next
   * batch, waited up to 2 s for it).
   */
  private readonly awaited = new Map<string, Set<string>>();
  /** A look is under way: ends seen now are kept in `endedInLook`, not taken off `awaited`. */
  private looking = false;
  /** The installs that ended during the look under way: it may have read them before they ended. */
  private readonly endedInLook = new Set<string>();
  /** The next look has something to do at once: no pause before it. */
  private due = false;
  /** Ends the pause under way, if any. */
  private cutPause: (() => void) | undefined;

  constructor(
    private readonly store: Store,
    private readonly bundles: Pick<BundleService, 'get'>,
    private readonly dispatcher: InstallDispatcher,
    private readonly variables: Pick<VariableService, 'checkDeployable'>,
    private readonly logger: Logger,
    private readonly options: RolloutDriverOptions,
  ) {
    this.clock = options.clock ?? (() => Date.now());
    this.snapshots = new ConfigSnapshots(store, variables);
    this.bakes = new BakeWatch(store, logger, this.clock);
  }

  /**
   * Looks again when a bake ends (besides every tick), so that a bake ends on
   * time whatever the tick: one wake-up at a time, for the nearest end.
   */
  private wakeAt(at: number): void {
    if (this.closed) return;
    if (this.bakeTimer && this.bakeTimer.at <= at && this.bakeTimer.at > this.clock()) return;
    if (this.bakeTimer) clearTimeout(this.bakeTimer.timer);
    const timer = setTimeout(
      () => {
        this.bakeTimer = undefined;
        this.wake();
      },
      Math.max(0, at - this.clock()) + 10,
    );
    timer.unref();
    this.bakeTimer = { at, timer };
  }

  /** Starts ticking; the first tick picks up deployments a previous server left running. */
  start(): void {
    this.timer = setInterval(() => this.wake(), this.options.tickMs);
    this.wake();
  }

  /**
   * Looks at every deployment now (something happened: an install ended, one
   * was created) — or, when a look is under way, once more after it and a
   * pause. `endedInstall`: the install whose end this is, if it is one; the
   * end of the last one a rollout waits on cuts the pause short.
   */
  wake(endedInstall?: string): void {
    if (this.closed) return;
    if (endedInstall !== undefined) this.sawEnd(endedInstall);
    this.tickAgain = true;
    if (this.ticking) return;
    this.ticking = this.run().finally(() => {
      this.ticking = undefined;
    });
  }

  private sawEnd(installId: string): void {
    if (this.looking) {
      this.endedInLook.add(installId);
      return;
    }
    for (const [deploymentId, waiting] of this.awaited) {
      if (!waiting.delete(installId)) continue;
      if (waiting.size === 0) {
        this.awaited.delete(deploymentId);
        this.lookNow();
      }
      return;
    }
  }

  /** The next look comes without a pause (one under way is cut short). */
  private lookNow(): void {
    this.due = true;
    this.cutPause?.();
  }

  /** What deployment `id`'s look waits on next: its installs in `waitingOn` that have not ended. */
  private awaitEnds(id: string, waitingOn: StoredInstall[]): void {
    const waiting = new Set(
      waitingOn
        .filter((i) => !isFinalInstall(i.state) && !this.endedInLook.has(i.id))
        .map((i) => i.id),
    );
    if (waiting.size > 0) this.awaited.set(id, waiting);
    else this.lookNow();
  }

  private async run(): Promise<void> {
    while (this.tickAgain && !this.closed) {
      this.tickAgain = false;
      this.due = false;
      this.looking = true;
      this.endedInLook.clear();
      const began = performance.now();
      await this.tickHere()
        .catch((err: unknown) => this.logger.error({ err }, 'the rollout driver failed a tick'))
        .finally(() => {
          this.looking = false;
        });
      // Ends seen while it looked, after it recorded what a deployment waits
      // on (an install it ended unsent, or one whose end came meanwhile):
      // taken off now. One it read as ended is not waited on, so no harm.
      for (const installId of this.endedInLook) this.sawEnd(installId);
      this.endedInLook.clear();
      const took = performance.now() - began;
      if (this.tickAgain && !this.closed && !this.due)
        await this.pause(
          Math.max(this.options.settleMs ?? 100, Math.min(SETTLE_PER_LOOK * took, MAX_SETTLE_MS)),
        );
    }
  }

  /** Waits `ms`, or until `lookNow` (or `close`) cuts it short. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.cutPause = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.cutPause = done;
    });
  }

  /** Resolves once no tick is under way (nor asked for): for tests that wait for one look. */
  async idle(): Promise<void> {
    while (this.ticking) await this.ticking;
  }

  /** Stops driving and gives up the leases held, so another replica (or the next start) takes over at once. */
  async close(): Promise<void> {
    this.closed = true;
    this.cutPause?.();
    clearInterval(this.timer);
    if (this.bakeTimer) clearTimeout(this.bakeTimer.timer);
    await this.ticking;
    for (const id of this.heldSince.keys()) {
      await this.store.deployments
        .releaseLease(id, this.options.replicaId)
        .catch((err: unknown) =>
          this.logger.warn({ err, deploymentId: id }, 'releasing a lease failed'),
        );
    }
    this.heldSince.clear();
  }

  private async tick(): Promise<void> {
    await this.sendStranded().catch((err: unknown) =>
      this.logger.error({ err }, 'sending again the installs by hand left unsent failed'),
    );
    const active = await this.store.deployments.list({ states: [...ACTIVE_DEPLOYMENT_STATES] });
    // Those that ended (cancelled, or ended by another replica) wait on nothing here.
    const activeIds = new Set(active.map((d) => d.id));
    for (const id of this.awaited.keys()) if (!activeIds.has(id)) this.awaited.delete(id);
    // The hosts this tick has read, by id (undefined: removed): each is read once a tick.
    const hostsRead = new Map<string, HostRecord | undefined>();
    // Oldest first, so that deployments queued behind a lock start in order.
    for (const deployment of active.reverse()) {
      if (this.closed) return;
      const now = this.clock();
      const held = await this.store.deployments.claimLease(
        deployment.id,
        this.options.replicaId,
        iso(now),
        iso(now + this.options.leaseMs),
      );
      if (!held) {
        this.heldSince.delete(deployment.id);
        this.awaited.delete(deployment.id);
        continue;
      }
      if (!this.heldSince.has(deployment.id)) {
        this.heldSince.set(deployment.id, now);
        this.logger.info(
          { deploymentId: deployment.id, replica: this.options.replicaId },
          deployment.leaseOwner && deployment.leaseOwner !== this.options.replicaId
            ? 'took over a deployment from another server'
            : 'driving a deployment',
        );
      }
      try {
        await this.advance(deployment, hostsRead);
      } catch (err) {
        this.logger.error({ err, deploymentId: deployment.id }, 'advancing a deployment failed');
      }
    }
  }

  /**
   * Ends the wait of installs by hand (`ferry install`, no deployment) left
   * planned and unsent for longer than a server takes to send one, which
   * nothing else would send while `ferry install` waits on them. One whose
   * sending never began (the server that recorded it stopped first) is sent
   * now: sending is idempotent (the job's id is the install's), so two
   * replicas sending it run it once. One whose sending began and never
   * completed (the server stopped during it, or the transport refused it and
   * the caller was told so) ends failed, saying why: its job, should it have
   * gone, is then declined by its host when it asks.
   */
  private async sendStranded(): Promise<void> {
    const before = iso(this.clock() - STRANDED_AFTER_MS);
    const unsent = INSTALL_STATES.filter(
      (s) => UNSTARTED_INSTALL_STATES.includes(s) && !isSentInstall(s),
    );
    const stranded = (
      await this.store.installs.list({ deploymentId: null, states: unsent, limit: 100 })
    ).filter((i) => i.createdAt < before);
    for (const install of stranded) {
      if (this.closed) return;
      const host = await this.store.hosts.get(install.hostId);
      if (!host || install.sentAt !== null) {
        const error = !host
          ? 'the host was removed before its job was sent'
          : 'its sending did not complete (the server stopped, or the transport refused it): run ferry install again';
        if (await this.store.installs.mark(install.id, { state: 'failed', error }, unsent))
          this.logger.warn({ installId: install.id }, `an install by hand ended unsent: ${error}`);
        continue;
      }
      this.logger.warn(
        { installId: install.id, host: host.name },
        'sending again an install by hand that was recorded but not sent',
      );
      const bundle = await this.bundles.get(install.app, install.version);
      await this.dispatcher.send(install, bundle, host);
    }
  }

  private async advance(
    deployment: StoredDeployment,
    hostsRead: Map<string, HostRecord | undefined>,
  ): Promise<void> {
    this.awaited.delete(deployment.id);
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
    const wave = await this.expireOffline(
      deployment,
      listed.filter((i) => i.purpose === purpose),
      hosts,
    );
    // With no host at all, there is nobody to migrate: it ends `no_hosts` (`complete`).
    if (migrates && wave.length > 0) {
      // The host that migrates goes alone, before any other host is sent anything.
      const gate = migrationGate(wave, `${deployment.app}@${deployment.version}`);
      if (gate.next === 'migrate') {
        this.awaitEnds(deployment.id, [gate.migrator]);
        return this.sendPending([gate.migrator], hosts, { migrate: true });
      }
      if (gate.next === 'fail') return this.stopUnmigrated(deployment, wave, gate.reason);
      // Migrated, then failed (its health check, say): past maxFailures, nobody else goes.
      if (gate.migrator?.state === 'failed' && deployment.strategy.maxFailures < 1)
        return this.stop(deployment, wave);
    }
    let failures = 0;
    const batches = byBatch(wave);
    for (const [index, batch] of batches.entries()) {
      if (!batch.every((i) => isFinalInstall(i.state))) {
        this.awaitEnds(deployment.id, batch);
        await this.sendPending(batch, hosts);
        return;
      }
      if (deployment.phase === 'rollout') {
        failures += batch.filter((i) => i.state === 'failed').length;
        if (failures > deployment.strategy.maxFailures) return this.stop(deployment, wave);
        // The bake after this batch: watching the hosts installed so far.
        const watched = batches.slice(0, index + 1).flat();
        const bake = await this.bakes.after(
          deployment,
          batch[0]?.batch ?? index,
          index === batches.length - 1,
          watched,
        );
        if (bake.next === 'roll-back') return this.stop(deployment, wave, bake.reason);
        if (bake.next === 'wait') {
          if (bake.until !== undefined) this.wakeAt(bake.until);
          return;
        }
      }
    }
    if (deployment.phase === 'rollout') return this.complete(deployment, wave, hosts, migrates);
    return this.completeRevert(deployment, wave);
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
    const now = iso(this.clock());
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
      return this.finish(deployment, 'failed', err.message);
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
    this.lookNow();
    this.wake();
  }

  /**
   * Skips the hosts of a wave that have been offline longer than the strategy
   * allows, and at once those cut off or removed.
   */
  private async expireOffline(
    deployment: StoredDeployment,
    wave: StoredInstall[],
    hosts: Map<string, HostRecord>,
  ): Promise<StoredInstall[]> {
    const timeoutMs = parseDuration(deployment.strategy.offlineTimeout);
    const now = this.clock();
    const out: StoredInstall[] = [];
    for (const install of wave) {
      const host = hosts.get(install.hostId);
      const sent = isSentInstall(install.state);
      // A host cut off (its token revoked) or removed will not report: it is gone, not late.
      if ((sent && !host) || (host?.revokedAt && isOpenInstall(install.state))) {
        const error = host
          ? `${host.name} was cut off (its token was revoked): it gets nothing more`
          : 'the host was removed';
        if (
          await this.store.installs.mark(
            install.id,
            { state: 'skipped', error },
            installStatesBefore('skipped'),
          )
        ) {
          this.logger.warn(
            { deploymentId: deployment.id, hostId: install.hostId },
            'skipped a host that was cut off',
          );
          out.push(await this.reread(install, error));
          continue;
        }
      }
      if (sent && host && !host.connected) {
        // Offline since the latest of: last seen, the job sent, this replica took over.
        const since = Math.max(
          time(host.lastSeenAt),
          time(install.sentAt),
          this.heldSince.get(deployment.id) ?? now,
        );
        if (now - since > timeoutMs) {
          const error = `${host.name} was offline for more than ${deployment.strategy.offlineTimeout}; it catches up when it returns`;
          if (
            await this.store.installs.mark(
              install.id,
              { state: 'skipped', error },
              installStatesBefore('skipped'),
            )
          ) {
            this.logger.warn(
              { deploymentId: deployment.id, host: host.name },
              'skipped an offline host',
            );
            out.push(await this.reread(install, error));
            continue;
          }
        }
      }
      out.push(install);
    }
    return out;
  }

  /**
   * An install just skipped, as it is now: its host may have been told to go
   * ahead (`startedAt`) between the wave's reading and the skip, and then keeps
   * the job — the migration gate must see that, not the wave's older copy.
   */
  private async reread(install: StoredInstall, error: string): Promise<StoredInstall> {
    return (await this.store.installs.get(install.id)) ?? { ...install, state: 'skipped', error };
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

  /**
   * The host that was to migrate ended without its migrations succeeding (they
   * failed, it failed before them, or it went away during them): no host has
   * switched, and none may without them. Cancels the rest; the deployment fails.
   */
  private async stopUnmigrated(
    deployment: StoredDeployment,
    wave: StoredInstall[],
    reason: string,
  ): Promise<void> {
    await this.cancelUnsent(wave, 'the migrations did not run: no host takes this release');
    return this.finish(deployment, 'failed', reason);
  }

  /** Cancels the installs of a wave not yet sent: the rollout stopped before their hosts. */
  private async cancelUnsent(wave: StoredInstall[], error: string): Promise<void> {
    for (const install of wave.filter((i) => i.state === 'pending')) {
      await this.store.installs.mark(
        install.id,
        { state: 'cancelled', error },
        installStatesBefore('cancelled'),
      );
    }
  }

  private async sendPending(
    batch: StoredInstall[],
    hosts: Map<string, HostRecord>,
    options: { migrate?: boolean } = {},
  ): Promise<void> {
    const bundles = new Map<string, Promise<BundleDetail>>();
    const bundleOf = (install: StoredInstall): Promise<BundleDetail> => {
      const key = `${install.app}@${install.version}`;
      let bundle = bundles.get(key);
      if (bundle === undefined) {
        bundle = this.bundles.get(install.app, install.version);
        bundles.set(key, bundle);
      }
      return bundle;
    };
    // Sent side by side: each send is a few store reads and writes, and sent
    // one after another the last host of a large batch got its job only after
    // every other's (hundreds of ms at 20 hosts, its queries queued behind the
    // first hosts' step reports).
    const failed = await eachAtMost(
      batch.filter((i) => i.state === 'pending'),
      SENDS_AT_ONCE,
      async (install) => {
        const host = hosts.get(install.hostId);
        if (!host) {
          await this.store.installs.mark(
            install.id,
            { state: 'cancelled', error: 'the host was removed' },
            installStatesBefore('cancelled'),
          );
          return;
        }
        await this.dispatcher.send(install, await bundleOf(install), host, options);
      },
    );
    // Left pending: the next look sends them again.
    for (const { item, err } of failed)
      this.logger.error(
        { err, deploymentId: item.deploymentId, installId: item.id },
        'sending an install to its host failed',
      );
  }

  /**
   * The rollout stops: too many hosts failed (`reason` absent: it says which),
   * or too many turned unhealthy during a bake (`reason` given, and the hosts
   * done always go back). Cancels the rest and, if the strategy says so, puts
   * back the hosts done.
   */
  private async stop(
    deployment: StoredDeployment,
    wave: StoredInstall[],
    degraded?: string,
  ): Promise<void> {
    const failed = wave.filter((i) => i.state === 'failed');
    const reason =
      degraded ??
      `${failed.length} host${failed.length === 1 ? '' : 's'} failed, more than maxFailures ` +
        `${deployment.strategy.maxFailures}: ${failed.map((i) => `${i.host}: ${i.error ?? 'failed'}`).join('; ')}`;
    await this.cancelUnsent(wave, 'the rollout stopped before this host');
    if (degraded === undefined && !deployment.strategy.rollbackOnFailure)
      return this.finish(deployment, 'failed', reason);
    const { reverts, note } = planReverts(deployment, wave);
    if (reverts.length === 0) return this.finish(deployment, 'rolled_back', reason + note);
    // The reverts are recorded with the change of phase, in one step, and only
    // while the deployment is as this look read it: one cancelled meanwhile
    // (from another replica) gets none, so no open install is left on it to
    // hold up catch-up, and one a person rolled back meanwhile (running,
    // reverting) is not given a second revert per host.
    // One that was baking goes back to `running` while its hosts go back.
    const reverting = await this.store.deployments.update(
      deployment.id,
      { state: 'running', phase: 'reverting', error: reason + note },
      {
        from: ROLLING_OUT_DEPLOYMENT_STATES.filter((s) => s === deployment.state),
        phase: 'rollout',
        installs: reverts,
      },
    );
    if (!reverting) {
      this.heldSince.delete(deployment.id);
      return;
    }
    this.logger.warn(
      { deploymentId: deployment.id, reason },
      'rollout stopped; putting hosts back',
    );
    this.wake();
  }

  private async complete(
    deployment: StoredDeployment,
    wave: StoredInstall[],
    hosts: Map<string, HostRecord>,
    migrates: boolean,
  ): Promise<void> {
    if (wave.length === 0) {
      // Nothing was installed, so it did not succeed; the desired release is set
      // all the same, for the hosts with the role that join later — unless its
      // migrations were to run: they ran nowhere, and a host that joins would
      // catch up to a release whose data was never migrated.
      const role = roleOf(await this.bundles.get(deployment.app, deployment.version));
      const ref = `${deployment.app}@${deployment.version}`;
      const nowhere = `no host in ${deployment.env} has the role ${role}: ${ref} was installed nowhere`;
      return migrates
        ? this.finish(
            deployment,
            'no_hosts',
            `${nowhere}, and its migrations ran nowhere, so it is not the desired release there ` +
              '(a host that joins is not given it); deploy it again once a host has the role',
          )
        : this.finish(deployment, 'no_hosts', nowhere, { desired: true });
    }
    const succeeded = wave.filter((i) => i.state === 'succeeded');
    const skipped = wave.filter((i) => i.state === 'skipped');
    const failed = wave.filter((i) => i.state === 'failed');
    if (succeeded.length === 0 && skipped.length === 0) {
      return this.finish(
        deployment,
        'failed',
        `no host took ${deployment.app}@${deployment.version}: ${failed.map((i) => `${i.host}: ${i.error ?? 'failed'}`).join('; ')}`,
      );
    }
    // A deployment a person resumed after a bad bake keeps why it paused.
    const resumed = deployment.error === null ? '' : `; ${deployment.error}`;
    if (skipped.length === 0 && failed.length === 0) {
      return this.finish(deployment, 'succeeded', deployment.error, { desired: true });
    }
    const parts = [
      ...skipped.map((i) =>
        !hosts.has(i.hostId) || hosts.get(i.hostId)?.revokedAt
          ? `${i.host} (cut off: its token was revoked or the host removed)`
          : `${i.host} (offline; catches up when it returns)`,
      ),
      ...failed.map((i) => `${i.host} (failed: ${i.error ?? 'unknown'})`),
    ];
    return this.finish(
      deployment,
      'partial',
      `not on ${deployment.app}@${deployment.version}: ${parts.join(', ')}${resumed}`,
      { desired: true },
    );
  }

  private async completeRevert(
    deployment: StoredDeployment,
    reverts: StoredInstall[],
  ): Promise<void> {
    const failed = reverts.filter((i) => i.state !== 'succeeded');
    if (failed.length === 0) return this.finish(deployment, 'rolled_back', deployment.error);
    return this.finish(
      deployment,
      'failed',
      `${deployment.error ?? 'the rollout failed'}; putting back failed on ${failed.map((i) => `${i.host} (${i.error ?? i.state})`).join(', ')}`,
    );
  }

  /**
   * Ends a deployment in `state`, and with `desired`, makes its bundle the
   * environment's desired release — in one step, and only if it is still in
   * the state and phase this look read: one cancelled meanwhile (by a person,
   * from another replica) stays cancelled, one a person rolled back during its
   * bake (now running, reverting) goes on putting its hosts back, and the
   * environment keeps the desired release it had.
   */
  private async finish(
    deployment: StoredDeployment,
    state: DeploymentState,
    error: string | null,
    options: { desired?: boolean } = {},
  ): Promise<void> {
    const finishedAt = iso(this.clock());
    const desired: DesiredRelease | undefined = options.desired
      ? {
          env: deployment.env,
          app: deployment.app,
          version: deployment.version,
          deploymentId: deployment.id,
          updatedAt: finishedAt,
        }
      : undefined;
    const ended = await this.store.deployments.update(
      deployment.id,
      { state, finishedAt, error },
      {
        from: deploymentStatesBefore(state).filter(
          (s) => ACTIVE_DEPLOYMENT_STATES.includes(s) && s === deployment.state,
        ),
        phase: deployment.phase,
        ...(desired ? { desired } : {}),
      },
    );
    if (!ended) {
      this.heldSince.delete(deployment.id);
      return;
    }
    await this.store.deployments.releaseLock(deployment.app, deployment.env, deployment.id);
    await this.store.deployments.releaseLease(deployment.id, this.options.replicaId);
    this.heldSince.delete(deployment.id);
    // A release that did not land no longer runs: its degraded alert is over. One
    // that landed keeps it open until a later deployment lands (AlertService).
    if (!hasLanded(state))
      await clearDegradedAlert(this.store, deployment.id, `the deployment ended ${state}`).catch(
        (err: unknown) =>
          this.logger.warn(
            { err, deploymentId: deployment.id },
            'clearing its degraded alert failed',
          ),
      );
    this.logger.info(
      { deploymentId: deployment.id, state, error },
      `deployment of ${deployment.app}@${deployment.version} to ${deployment.env} ended ${state}`,
    );
    // The next deployment queued for this app and environment may start now.
    this.wake();
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

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function time(at: string | null): number {
  return at === null ? 0 : Date.parse(at);
}
