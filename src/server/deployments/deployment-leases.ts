import type { Store, StoredDeployment } from '../../store/store.js';

/** The few logging calls the leases make (Fastify's logger fits). */
interface Logger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

/**
 * The leases this replica holds on the deployments it drives, and since when
 * it drives each: a replica drives a deployment only while it holds its lease,
 * and gives it up when the deployment ends or the replica closes, so that
 * another replica (or the next start) takes over at once.
 *
 * @example
 * if (await leases.claim(deployment, clock())) await advance(deployment);
 */
export class DeploymentLeases {
  /** Deployments this replica drives, and since when (a fresh driver gives offline hosts a fresh wait). */
  private readonly heldSince = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly options: { replicaId: string; leaseMs: number },
  ) {}

  /**
   * Takes or renews the lease on `deployment` as of `now`: false when another
   * replica holds it (this one no longer drives it).
   */
  async claim(deployment: StoredDeployment, now: number): Promise<boolean> {
    const held = await this.store.deployments.claimLease(
      deployment.id,
      this.options.replicaId,
      iso(now),
      iso(now + this.options.leaseMs),
    );
    if (!held) {
      this.heldSince.delete(deployment.id);
      return false;
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
    return true;
  }

  /** Since when this replica drives deployment `id` (undefined: it does not). */
  since(id: string): number | undefined {
    return this.heldSince.get(id);
  }

  /**
   * This replica no longer drives deployment `id`: it was changed by someone
   * else meanwhile (another replica, or a person's cancel or rollback here).
   */
  drop(id: string): void {
    this.heldSince.delete(id);
  }

  /** Gives up the lease on deployment `id`, which ended. */
  async release(id: string): Promise<void> {
    await this.store.deployments.releaseLease(id, this.options.replicaId);
    this.heldSince.delete(id);
  }

  /** Gives up every lease held; one that fails is logged, and expires. */
  async releaseAll(): Promise<void> {
    for (const id of this.heldSince.keys()) {
      await this.store.deployments
        .releaseLease(id, this.options.replicaId)
        .catch((err: unknown) =>
          this.logger.warn({ err, deploymentId: id }, 'releasing a lease failed'),
        );
    }
    this.heldSince.clear();
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
