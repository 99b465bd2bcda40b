import type { HostRecord } from '../../protocol/api.js';
import type { DeploymentState } from '../../protocol/deployment-api.js';
import {
  ACTIVE_DEPLOYMENT_STATES,
  deploymentStatesBefore,
  hasLanded,
  installStatesBefore,
  ROLLING_OUT_DEPLOYMENT_STATES,
} from '../../protocol/lifecycle.js';
import type { DesiredRelease, Store, StoredDeployment, StoredInstall } from '../../store/store.js';
import type { BundleService } from '../bundle-service.js';
import { clearDegradedAlert } from './bake-watch.js';
import type { DeploymentLeases } from './deployment-leases.js';
import { planReverts } from './revert-plan.js';
import { roleOf } from './rollout-plan.js';

/** The few logging calls the endings make (Fastify's logger fits). */
interface Logger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

/**
 * How the rollout driver ends a deployment (`complete`, `completeRevert`,
 * `finish`) or stops its rollout (`stop`, `stopUnmigrated`): each a
 * conditional update, of no effect on a deployment changed meanwhile (by a
 * person, or from another replica). `wake`: a look is due (the next
 * deployment queued may start, or hosts go back).
 *
 * @example
 * if (failures > deployment.strategy.maxFailures) return endings.stop(deployment, wave);
 */
export class RolloutEndings {
  constructor(
    private readonly store: Store,
    private readonly bundles: Pick<BundleService, 'get'>,
    private readonly leases: DeploymentLeases,
    private readonly logger: Logger,
    private readonly clock: () => number,
    private readonly wake: () => void,
  ) {}

  /**
   * The host that was to migrate ended without its migrations succeeding (they
   * failed, it failed before them, or it went away during them): no host has
   * switched, and none may without them. Cancels the rest; the deployment fails.
   */
  async stopUnmigrated(
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

  /**
   * The rollout stops: too many hosts failed (`reason` absent: it says which),
   * or too many turned unhealthy during a bake (`reason` given, and the hosts
   * done always go back). Cancels the rest and, if the strategy says so, puts
   * back the hosts done.
   */
  async stop(
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
      this.leases.drop(deployment.id);
      return;
    }
    this.logger.warn(
      { deploymentId: deployment.id, reason },
      'rollout stopped; putting hosts back',
    );
    this.wake();
  }

  /**
   * The rollout's last batch (and bake) is over: ends the deployment
   * succeeded, partial, failed or without hosts, as its wave says.
   */
  async complete(
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

  /** Every host put back has ended: the deployment ends rolled back, or failed if one did not go back. */
  async completeRevert(deployment: StoredDeployment, reverts: StoredInstall[]): Promise<void> {
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
  async finish(
    deployment: StoredDeployment,
    state: DeploymentState,
    error: string | null,
    options: { desired?: boolean } = {},
  ): Promise<void> {
    const finishedAt = new Date(this.clock()).toISOString();
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
      this.leases.drop(deployment.id);
      return;
    }
    await this.store.deployments.releaseLock(deployment.app, deployment.env, deployment.id);
    await this.leases.release(deployment.id);
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
