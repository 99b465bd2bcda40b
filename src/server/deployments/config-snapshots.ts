import { referencedVariables } from '../../bundle/variable-references.js';
import type { BundleDetail, HostRecord } from '../../protocol/api.js';
import { isWithdrawn, LANDED_DEPLOYMENT_STATES, tookRelease } from '../../protocol/lifecycle.js';
import type { ConfigSnapshot, Store, StoredInstall } from '../../store/store.js';
import type { ResolvedVariables, VariableService } from '../variable-service.js';

/** A variable of a snapshot as a client may see it: a secret's value is null. */
export interface SnapshotVariable {
  name: string;
  value: string | null;
  secret: boolean;
}

/**
 * The steps in which an agent starts a release with its job's configuration,
 * writing that configuration as the release's snapshot first: `switch` (a
 * release installed or reused, before `current` moves to it), and for the
 * release already current (installed again, restarted after a crash) its
 * `before-start` hooks and `start`. Going back to a release reads the snapshot
 * so written; the server reads the same from its records.
 */
const SWITCH_STEP = 'switch';
const START_STEPS: readonly string[] = ['before-start', 'start'];

/**
 * Did the install start its release on its host — and so leave its
 * configuration in the release's snapshot there? Every install that took the
 * release did; one that failed did if it got as far as switching to it or
 * starting it (a failed health check, say), not if it failed before.
 */
export function startedRelease(install: Pick<StoredInstall, 'state' | 'steps'>): boolean {
  return (
    tookRelease(install.state) ||
    install.steps.some(
      (s) => (s.step === SWITCH_STEP && s.state === 'succeeded') || START_STEPS.includes(s.step),
    )
  );
}

/**
 * When an install that started its release wrote the release's snapshot on
 * its host: its last `switch` (succeeded) or start step, by the host's report;
 * else when its host began it; else when it was made (an older record).
 */
function snapshotWrittenAt(
  install: Pick<StoredInstall, 'steps' | 'startedAt' | 'createdAt'>,
): string {
  const writes = install.steps
    .filter(
      (s) => (s.step === SWITCH_STEP && s.state === 'succeeded') || START_STEPS.includes(s.step),
    )
    .map((s) => s.startedAt)
    .filter((at): at is string => at !== null)
    .sort();
  return writes[writes.length - 1] ?? install.startedAt ?? install.createdAt;
}

/**
 * The configuration `app@version` last ran with on a host: the snapshot of the
 * install that started that release there last, by when it did (not when it
 * was made: a host away may run an older install after a newer one) — what the
 * host keeps in the release's `.ferry-snapshot.json` — or undefined when the
 * host never started it (or did before snapshots were recorded).
 */
export async function lastRanWith(
  store: Pick<Store, 'installs'>,
  app: string,
  version: number,
  hostId: string,
): Promise<ConfigSnapshot | undefined> {
  // Newest first; of two that wrote it at the same moment, the newer made.
  const started = (await store.installs.list({ hostId, app, version }))
    .filter(startedRelease)
    .map((install) => ({ install, at: snapshotWrittenAt(install) }))
    .sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0))[0]?.install;
  return started ? store.installs.getSnapshot(started.id) : undefined;
}

/**
 * True when a host runs `version` — the release its deployment brought — but
 * with another configuration than the one the deployment froze for it, because
 * it was away and the deployment gave up on it (a `--refresh-vars` deployment
 * of the release it already ran): it catches up to that configuration. Not once
 * it has run an install of that deployment, whatever became of it.
 */
export async function missedConfiguration(
  store: Pick<Store, 'installs'>,
  deploymentId: string,
  app: string,
  version: number,
  hostId: string,
): Promise<boolean> {
  const planned = await store.installs.list({ deploymentId, hostId, version });
  if (planned.length === 0 || !planned.every((i) => isWithdrawn(i.state))) return false;
  const frozen = await store.installs.getSnapshot(planned[planned.length - 1]!.id);
  const running = await lastRanWith(store, app, version, hostId);
  return frozen !== undefined && running !== undefined && !sameSnapshot(frozen, running);
}

/** Do two snapshots hold the same values, and the same of them secret? */
function sameSnapshot(a: ConfigSnapshot, b: ConfigSnapshot): boolean {
  const names = Object.keys(a.vars);
  return (
    names.length === Object.keys(b.vars).length &&
    names.every((name) => b.vars[name] === a.vars[name]) &&
    [...a.secrets].sort().join('\0') === [...b.secrets].sort().join('\0')
  );
}

/**
 * What a deployment freezes for each host: the variables its app's manifest
 * uses. One rule decides them, the rule by which a host goes back by itself:
 * a release that is back on a host starts with the configuration it last ran
 * with there (`lastRanWith`: the snapshot the host keeps with the release).
 * So the hosts a failed rollout puts back, and — for a release that landed in
 * the environment — a rollback, a redeploy and a host catching up, start it as
 * the agent's own revert would; unless the deployment takes today's values
 * (`refresh`, `--refresh-vars`). A release that never landed (its deployments
 * failed) has nothing to go back to: deploying it again takes today's, as does
 * a host that never ran the release. Installs are sent with their frozen
 * snapshot, never resolved again.
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
   * Each host's snapshot for a deployment of `bundle` to `env`, by host id: for
   * a release that landed there, the configuration it last ran with on each
   * host where it ran (unless `refresh`); else today's variables — checked for
   * those hosts only, so a missing one is `E_VARIABLE_MISSING` before any host
   * is touched, while a variable unset since does not stop going back to a
   * release that keeps its own.
   */
  async forDeployment(
    bundle: BundleDetail,
    env: string,
    hosts: HostRecord[],
    options: { refresh: boolean },
  ): Promise<Map<string, ResolvedVariables>> {
    const own = new Map<string, ResolvedVariables>();
    if (!options.refresh && (await this.landed(env, bundle.app, bundle.version))) {
      for (const host of hosts) {
        const ran = await lastRanWith(this.store, bundle.app, bundle.version, host.id);
        if (ran) own.set(host.id, ran);
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
   * starts the release with the configuration it last ran with on the host (as
   * the agent going back by itself does); a catch-up takes what its deployment
   * froze for that host (`forCatchUp`); anything else (`ferry install`) today's
   * variables. Throws as `checkDeployable` does when today's are needed and do
   * not resolve.
   */
  async forInstall(
    install: Pick<StoredInstall, 'purpose' | 'deploymentId'>,
    bundle: BundleDetail,
    host: HostRecord,
  ): Promise<ResolvedVariables> {
    if (install.purpose === 'catch-up') return this.forCatchUp(install.deploymentId, bundle, host);
    const own =
      install.purpose === 'revert'
        ? await lastRanWith(this.store, bundle.app, bundle.version, host.id)
        : undefined;
    return own ?? (await this.today(bundle, host));
  }

  /**
   * The snapshot a host catching up to `bundle`, the desired release set by
   * `deploymentId`, starts with: the one that deployment froze for the host's
   * planned install (a host that was away gets what it would have got, not
   * today's values); for a host it did not plan (one that enrolled since),
   * resolved as the deployment resolved its hosts — with `--refresh-vars`
   * today's values, else the configuration the release last ran with on the
   * host, or today's for a host that never ran it.
   */
  async forCatchUp(
    deploymentId: string | null,
    bundle: BundleDetail,
    host: HostRecord,
  ): Promise<ResolvedVariables> {
    let refresh = false;
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
      refresh = (await this.store.deployments.get(deploymentId))?.refreshVars ?? false;
    }
    const frozen = await this.forDeployment(bundle, host.env, [host], { refresh });
    return frozen.get(host.id)!;
  }

  /** Has `app@version` landed in `env`: did a deployment of it succeed there (or end partial)? */
  private async landed(env: string, app: string, version: number): Promise<boolean> {
    const landed = await this.store.deployments.list({
      app,
      env,
      states: [...LANDED_DEPLOYMENT_STATES],
    });
    return landed.some((d) => d.version === version);
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
