import { parseDuration } from '../../bundle/manifest-schema.js';
import type { ServiceHealth } from '../../store/health-store.js';
import type { Store, StoredDeployment, StoredInstall } from '../../store/store.js';

/**
 * How many more restarts than when the bake began make a host count as
 * restarting repeatedly: a service its process driver restarted this many
 * times during the bake is degraded even if its health check passes between
 * crashes. (The agents report restarts in the last hour; a bake is counted
 * from the number reported when it began.)
 */
export const RESTARTS_DURING_BAKE = 3;

/** A host that turned unhealthy during a bake, and why in a few words. */
export interface DegradedHost {
  hostId: string;
  host: string;
  /** The failing probe's answer, "stopped", or "restarted 4 times". */
  why: string;
}

/** What the rollout does next about the bake after one of its batches. */
export type BakeStep =
  /** No bake, or it is over (healthy enough, resumed, or only alerted): the rollout goes on. */
  | { next: 'go-on' }
  /** Baking, or paused for a person: look again at `until` (ms), or when woken. */
  | { next: 'wait'; until?: number }
  /** Too many hosts turned unhealthy and the strategy says roll back. */
  | { next: 'roll-back'; reason: string };

/** The few logging calls the bake makes. */
interface Logger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

/**
 * The bake of a deployment: after a batch (the last one with `bake`, any with
 * `batchBake`) the rollout stays `baking` and watches the health the agents
 * report of the hosts it installed so far. A host is degraded when its
 * service of this release fails or stopped (reported after its install
 * finished), or restarted `RESTARTS_DURING_BAKE` times or more since the bake
 * began. When more than `maxFailures` hosts are degraded, a
 * `deployment-degraded` alert is raised (one per deployment) and the
 * strategy's `onDegrade` says what follows: `rollback` (the driver puts the
 * hosts back), `pause` (the deployment waits for a person), `alert` (the bake
 * goes on to its end). The bake's end and its starting restart counts are
 * kept in the deployment's record, so a replica that takes the deployment
 * over bakes until the same end.
 *
 * @example
 *   const step = await bakes.after(deployment, 0, false, installsOfBatchesSoFar);
 *   if (step.next === 'roll-back') return stop(deployment, wave, step.reason);
 */
export class BakeWatch {
  constructor(
    private readonly store: Pick<Store, 'deployments' | 'health' | 'alerts'>,
    private readonly logger: Logger,
    private readonly clock: () => number,
  ) {}

  /**
   * The bake after batch `batch` (`last`: the rollout's last batch), watching
   * `watched`: the deployment's installs of that batch and those before.
   */
  async after(
    deployment: StoredDeployment,
    batch: number,
    last: boolean,
    watched: StoredInstall[],
  ): Promise<BakeStep> {
    const ms = bakeMs(deployment, last);
    if (ms <= 0) return { next: 'go-on' };
    const bake = deployment.bake;
    // A later batch's bake has begun: this one's is over.
    if (bake && bake.batch > batch) return { next: 'go-on' };
    if (!bake || bake.batch < batch) return this.begin(deployment, batch, ms, watched);
    if (deployment.state === 'paused') return { next: 'wait' };
    // Running again with this batch's bake recorded: it ended, or a person resumed it.
    if (deployment.state !== 'baking') return { next: 'go-on' };
    const degraded = degradedHosts(
      deployment,
      watched,
      await this.store.health.list({ env: deployment.env, app: deployment.app }),
      bake.restarts,
    );
    if (degraded.length > deployment.strategy.maxFailures) {
      const reason = degradedReason(deployment, watched, degraded);
      await this.alert(deployment, degraded, reason);
      const onDegrade = deployment.strategy.onDegrade ?? 'rollback';
      if (onDegrade === 'rollback') return { next: 'roll-back', reason };
      if (onDegrade === 'pause') {
        const paused = await this.store.deployments.update(
          deployment.id,
          { state: 'paused', error: `${reason}; waiting for ferry deployments resume|rollback` },
          { from: ['baking'], phase: 'rollout' },
        );
        if (paused) this.logger.warn({ deploymentId: deployment.id, reason }, 'deployment paused');
        return { next: 'wait' };
      }
    }
    const until = Date.parse(bake.until);
    if (this.clock() < until) return { next: 'wait', until };
    if (last) return { next: 'go-on' };
    // The next batch goes: the bake stays recorded, as over. The rollout looks
    // again at once, from the record: this copy still says baking, and a next
    // batch already over (its hosts all cut off, say) begins its own bake
    // only from `running`.
    const ended = await this.store.deployments.update(
      deployment.id,
      { state: 'running' },
      { from: ['baking'], phase: 'rollout' },
    );
    return ended ? { next: 'wait', until: this.clock() } : { next: 'wait' };
  }

  /** Begins the bake of a batch, unless it has no host that took the release to watch. */
  private async begin(
    deployment: StoredDeployment,
    batch: number,
    ms: number,
    watched: StoredInstall[],
  ): Promise<BakeStep> {
    const installed = watched.filter((i) => i.state === 'succeeded');
    if (installed.length === 0 || deployment.state !== 'running') return { next: 'go-on' };
    const health = await this.store.health.list({ env: deployment.env, app: deployment.app });
    const restarts: Record<string, number> = {};
    for (const install of installed)
      restarts[install.hostId] = health.find((h) => h.hostId === install.hostId)?.restarts ?? 0;
    const until = this.clock() + ms;
    const began = await this.store.deployments.update(
      deployment.id,
      { state: 'baking', bake: { batch, until: new Date(until).toISOString(), restarts } },
      { from: ['running'], phase: 'rollout' },
    );
    if (began)
      this.logger.info(
        { deploymentId: deployment.id, batch, until: new Date(until).toISOString() },
        `baking ${deployment.app}@${deployment.version} in ${deployment.env}`,
      );
    return { next: 'wait', until };
  }

  /** Raises the deployment's `deployment-degraded` alert; raising again while it is open is no change. */
  private async alert(
    deployment: StoredDeployment,
    degraded: DegradedHost[],
    reason: string,
  ): Promise<void> {
    const { raised } = await this.store.alerts.raise({
      kind: 'deployment-degraded',
      key: degradedAlertKey(deployment.id),
      env: deployment.env,
      app: deployment.app,
      hostId: degraded.length === 1 ? degraded[0]!.hostId : null,
      host: degraded.map((d) => d.host).join(', '),
      version: deployment.version,
      deploymentId: deployment.id,
      message: `${deployment.app}@${deployment.version} in ${deployment.env}: ${reason}`,
      startedAt: new Date(this.clock()).toISOString(),
    });
    if (raised)
      this.logger.warn(
        { deploymentId: deployment.id, reason },
        'a deployment degraded while baking',
      );
  }
}

/** The key of a deployment's `deployment-degraded` alert (one per deployment). */
export function degradedAlertKey(deploymentId: string): string {
  return `deployment-degraded:${deploymentId}`;
}

/**
 * Clears a deployment's `deployment-degraded` alert, if one is open, saying
 * why: the deployment ended without landing (rolled back, failed, cancelled),
 * so the release it warns of no longer runs. One that landed (`onDegrade:
 * alert`, or resumed by a person) stays open until a later deployment of the
 * app lands in the environment (AlertService.deploymentState).
 *
 * @example
 *   await clearDegradedAlert(store, deployment.id, 'the deployment ended rolled_back');
 */
export async function clearDegradedAlert(
  store: Pick<Store, 'alerts'>,
  deploymentId: string,
  because: string,
): Promise<void> {
  await store.alerts.clear(degradedAlertKey(deploymentId), new Date().toISOString(), because);
}

/**
 * How long the bake after a batch lasts, in ms (0: none): `batchBake` after
 * each batch; after the last, the longer of `bake` and `batchBake` (a
 * strategy that bakes every batch bakes the last one too).
 */
export function bakeMs(deployment: Pick<StoredDeployment, 'strategy'>, last: boolean): number {
  const ms = (text: string | undefined) => (text === undefined ? 0 : parseDuration(text));
  const batch = ms(deployment.strategy.batchBake);
  return last ? Math.max(ms(deployment.strategy.bake), batch) : batch;
}

/**
 * The hosts of `watched` that took the release and are unhealthy now: their
 * service of this release fails or stopped, as reported after their install
 * finished (by the agent's clock or the server's: a report recorded after
 * the install is about what runs now), or it restarted `RESTARTS_DURING_BAKE`
 * times or more since the bake began (`restartsAtStart`, by host id). In
 * host-name order.
 */
export function degradedHosts(
  deployment: Pick<StoredDeployment, 'version'>,
  watched: StoredInstall[],
  health: ServiceHealth[],
  restartsAtStart: Record<string, number>,
): DegradedHost[] {
  const out: DegradedHost[] = [];
  for (const install of watched.filter((i) => i.state === 'succeeded')) {
    const service = health.find((h) => h.hostId === install.hostId);
    if (!service) continue;
    const ofThisRelease = service.version === null || service.version === deployment.version;
    const finished = install.finishedAt ?? '';
    const sinceInstall = service.since >= finished || service.at >= finished;
    if (ofThisRelease && sinceInstall && service.state !== 'healthy') {
      out.push({
        hostId: install.hostId,
        host: install.host,
        why: service.state === 'stopped' ? 'stopped' : (service.answer ?? 'failing'),
      });
      continue;
    }
    // Never below 0. The agent counts restarts over a sliding hour: a count below
    // the bake's start is older restarts ageing out (or the agent counting afresh),
    // not restarts during the bake — taking it as growth would flag a host whose
    // old release crash-looped, and roll back the fix.
    const atStart = restartsAtStart[install.hostId] ?? 0;
    const grew = Math.max(0, service.restarts - atStart);
    if (ofThisRelease && grew >= RESTARTS_DURING_BAKE)
      out.push({ hostId: install.hostId, host: install.host, why: `restarted ${grew} times` });
  }
  // In host-name order, as batches are: the record and the alert read the same whatever
  // order the installs were listed in.
  return out.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
}

/** "2 of 4 hosts turned unhealthy during the bake: prod-1 (HTTP 500), prod-3 (stopped)". */
function degradedReason(
  deployment: Pick<StoredDeployment, 'strategy'>,
  watched: StoredInstall[],
  degraded: DegradedHost[],
): string {
  const of = watched.filter((i) => i.state === 'succeeded').length;
  return (
    `${degraded.length} of ${of} host${of === 1 ? '' : 's'} turned unhealthy during the bake ` +
    `(more than maxFailures ${deployment.strategy.maxFailures}): ` +
    degraded.map((d) => `${d.host} (${d.why})`).join(', ')
  );
}
