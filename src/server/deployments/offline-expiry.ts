import { parseDuration } from '../../bundle/manifest-schema.js';
import type { HostRecord } from '../../protocol/api.js';
import { installStatesBefore, isOpenInstall, isSentInstall } from '../../protocol/lifecycle.js';
import type { Store, StoredDeployment, StoredInstall } from '../../store/store.js';
import type { DeploymentLeases } from './deployment-leases.js';

/** The logging the expiry does: each host it skips. */
interface Logger {
  warn(details: object, message: string): void;
}

/**
 * Skips, in a rollout, the hosts that will not report in time: offline longer
 * than the strategy's `offlineTimeout` (they catch up when they return), or
 * cut off or removed (at once).
 *
 * @example
 * const wave = await expiry.expire(deployment, installs, hosts);
 */
export class OfflineExpiry {
  constructor(
    private readonly store: Store,
    private readonly leases: DeploymentLeases,
    private readonly logger: Logger,
    private readonly clock: () => number,
  ) {}

  /**
   * Skips the hosts of a wave that have been offline longer than the strategy
   * allows, and at once those cut off or removed.
   */
  async expire(
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
        const skipped = await this.skip(install, error, 'skipped a host that was cut off', {
          deploymentId: deployment.id,
          hostId: install.hostId,
        });
        if (skipped) {
          out.push(skipped);
          continue;
        }
      }
      if (sent && host && !host.connected) {
        // Offline since the latest of: last seen, the job sent, this replica took over.
        const since = Math.max(
          time(host.lastSeenAt),
          time(install.sentAt),
          this.leases.since(deployment.id) ?? now,
        );
        if (now - since > timeoutMs) {
          const error = `${host.name} was offline for more than ${deployment.strategy.offlineTimeout}; it catches up when it returns`;
          const skipped = await this.skip(install, error, 'skipped an offline host', {
            deploymentId: deployment.id,
            host: host.name,
          });
          if (skipped) {
            out.push(skipped);
            continue;
          }
        }
      }
      out.push(install);
    }
    return out;
  }

  /**
   * Marks an install skipped, unless it moved on meanwhile (undefined then),
   * and logs it. Answers the install as it is now: its host may have been
   * told to go ahead (`startedAt`) between the wave's reading and the skip,
   * and then keeps the job — the migration gate must see that, not the wave's
   * older copy.
   */
  private async skip(
    install: StoredInstall,
    error: string,
    message: string,
    details: object,
  ): Promise<StoredInstall | undefined> {
    const marked = await this.store.installs.mark(
      install.id,
      { state: 'skipped', error },
      installStatesBefore('skipped'),
    );
    if (!marked) return undefined;
    this.logger.warn(details, message);
    return (await this.store.installs.get(install.id)) ?? { ...install, state: 'skipped', error };
  }
}

function time(at: string | null): number {
  return at === null ? 0 : Date.parse(at);
}
