import { referencedVariables } from '../../bundle/variable-references.js';
import type { BundleDetail, HostRecord } from '../../protocol/api.js';
import { LANDED_DEPLOYMENT_STATES, TOOK_RELEASE_INSTALL_STATES } from '../../protocol/lifecycle.js';
import type { ConfigSnapshot, Store, StoredInstall } from '../../store/store.js';
import type { ResolvedVariables, VariableService } from '../variable-service.js';

/** A variable of a snapshot as a client may see it: a secret's value is null. */
export interface SnapshotVariable {
  name: string;
  value: string | null;
  secret: boolean;
}

/**
 * What a deployment freezes for each host: the variables its app's manifest
 * uses, resolved when the deployment is made (or, for a release that already
 * landed in the environment — a rollback, a redeploy, a revert — those of the
 * deployment that first brought it there, unless `refresh` asks for today's).
 * Installs are sent with their frozen snapshot, never resolved again.
 *
 * @example
 *   const frozen = await snapshots.forDeployment(bundle, 'qa', hosts, { refresh: false });
 */
export class ConfigSnapshots {
  constructor(
    private readonly store: Store,
    private readonly variables: Pick<VariableService, 'checkDeployable'>,
  ) {}

  /**
   * Each host's snapshot for a deployment of `bundle` to `env`, by host id: the
   * landed release's own snapshot where the host has one (unless `refresh`),
   * else today's variables — checked for those hosts only, so a missing one is
   * `E_VARIABLE_MISSING` before any host is touched, while a variable unset
   * since does not stop a rollback to a release that keeps its own.
   */
  async forDeployment(
    bundle: BundleDetail,
    env: string,
    hosts: HostRecord[],
    options: { refresh: boolean },
  ): Promise<Map<string, ResolvedVariables>> {
    const own = new Map<string, ResolvedVariables>();
    if (!options.refresh) {
      for (const host of hosts) {
        const landed = await this.landed(env, bundle.app, bundle.version, host.id);
        if (landed) own.set(host.id, landed);
      }
    }
    const fresh = hosts.filter((host) => !own.has(host.id));
    const today =
      fresh.length === 0
        ? new Map<string, ResolvedVariables>()
        : await this.variables.checkDeployable(bundle.manifest, fresh, bundle.app);
    return new Map(
      hosts.map((host) => [host.id, own.get(host.id) ?? usedBy(bundle, today.get(host.id)!)]),
    );
  }

  /**
   * The snapshot of an install that was planned without one, on `host`: a revert
   * starts the release with the snapshot of the deployment that first brought it
   * to the environment; a catch-up takes what its deployment froze for that host
   * (`forCatchUp`); anything else (`ferry install`) today's variables. Throws as
   * `checkDeployable` does when today's are needed and do not resolve.
   */
  async forInstall(
    install: Pick<StoredInstall, 'purpose' | 'deploymentId'>,
    bundle: BundleDetail,
    host: HostRecord,
  ): Promise<ResolvedVariables> {
    if (install.purpose === 'catch-up') return this.forCatchUp(install.deploymentId, bundle, host);
    const own =
      install.purpose === 'revert'
        ? await this.landed(host.env, bundle.app, bundle.version, host.id)
        : undefined;
    return own ?? (await this.today(bundle, host));
  }

  /**
   * The snapshot a host catching up to `bundle`, the desired release set by
   * `deploymentId`, starts with: the one that deployment froze for the host's
   * planned install (a host that was away gets what it would have got, not
   * today's values); for a host it did not plan (one that enrolled since),
   * resolved as the deployment was — the landed release's own snapshot for the
   * host, else today's variables.
   */
  async forCatchUp(
    deploymentId: string | null,
    bundle: BundleDetail,
    host: HostRecord,
  ): Promise<ResolvedVariables> {
    if (deploymentId !== null) {
      const planned = await this.store.installs.list({
        deploymentId,
        hostId: host.id,
        version: bundle.version,
      });
      // Oldest first: the install the deployment planned, then any catch-up of it.
      for (const install of planned.reverse()) {
        const snapshot = await this.store.installs.getSnapshot(install.id);
        if (snapshot) return snapshot;
      }
    }
    const frozen = await this.forDeployment(bundle, host.env, [host], { refresh: false });
    return frozen.get(host.id)!;
  }

  /**
   * The snapshot of one host's install of `app@version` in the first deployment
   * that brought that release to `env` (the oldest that landed), or undefined
   * when no landed deployment of it installed this host.
   */
  async landed(
    env: string,
    app: string,
    version: number,
    hostId: string,
  ): Promise<ConfigSnapshot | undefined> {
    const deployments = (
      await this.store.deployments.list({ app, env, states: [...LANDED_DEPLOYMENT_STATES] })
    )
      .filter((d) => d.version === version)
      .reverse();
    for (const deployment of deployments) {
      const installs = await this.store.installs.list({
        deploymentId: deployment.id,
        hostId,
        version,
        states: [...TOOK_RELEASE_INSTALL_STATES],
      });
      for (const install of installs) {
        const snapshot = await this.store.installs.getSnapshot(install.id);
        if (snapshot) return snapshot;
      }
    }
    return undefined;
  }

  /** Today's variables of `host` that `bundle` uses, checked as a deployment checks them. */
  private async today(bundle: BundleDetail, host: HostRecord): Promise<ResolvedVariables> {
    const resolved = await this.variables.checkDeployable(bundle.manifest, [host], bundle.app);
    return usedBy(bundle, resolved.get(host.id)!);
  }

  /** An install's snapshot as a client may see it, or null when none was recorded. */
  async shown(installId: string): Promise<SnapshotVariable[] | null> {
    const snapshot = await this.store.installs.getSnapshot(installId);
    return snapshot ? masked(snapshot) : null;
  }
}

/** Only the variables a bundle's manifest uses: another app's secrets have no place in its job. */
export function usedBy(
  bundle: Pick<BundleDetail, 'manifest'>,
  resolved: ResolvedVariables,
): ResolvedVariables {
  const used = new Set(referencedVariables(bundle.manifest));
  const vars = Object.fromEntries(Object.entries(resolved.vars).filter(([name]) => used.has(name)));
  return { vars, secrets: resolved.secrets.filter((name) => Object.hasOwn(vars, name)) };
}

/** A snapshot's variables by name, secrets shown as null. */
export function masked(snapshot: ConfigSnapshot): SnapshotVariable[] {
  const secret = new Set(snapshot.secrets);
  return Object.keys(snapshot.vars)
    .sort()
    .map((name) => ({
      name,
      value: secret.has(name) ? null : snapshot.vars[name]!,
      secret: secret.has(name),
    }));
}

/**
 * The names whose value differs between a snapshot and today's resolution
 * (a secret's too, compared on the server, never shown), or that are no longer set.
 */
export function changedSince(snapshot: ConfigSnapshot, today: ResolvedVariables): string[] {
  return Object.keys(snapshot.vars)
    .filter((name) => today.vars[name] !== snapshot.vars[name])
    .sort();
}
