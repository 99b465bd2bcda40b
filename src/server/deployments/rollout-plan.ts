import { randomBytes } from 'node:crypto';
import type { BundleDetail, HostRecord } from '../../protocol/api.js';
import type { StrategyRecord } from '../../protocol/deployment-api.js';
import type { NewInstall } from '../../store/store.js';

/** A new record id with a readable prefix: `dep_…`, `ins_…`. */
export function newId(prefix: 'dep' | 'ins'): string {
  return `${prefix}_${randomBytes(8).toString('hex')}`;
}

/** The role a bundle's app targets: its manifest's `role`, which defaults to the app's name. */
export function roleOf(bundle: Pick<BundleDetail, 'app' | 'manifest'>): string {
  const role = bundle.manifest.role;
  return typeof role === 'string' ? role : bundle.app;
}

/** The hosts of an environment that run an app: those with its role, by name, less those cut off. */
export function targetHosts(hosts: HostRecord[], env: string, role: string): HostRecord[] {
  return hosts
    .filter((h) => h.env === env && h.roles.includes(role) && !h.revokedAt)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Hosts per batch for `hosts` targets: a count, or a percentage of the targets
 * rounded up; never less than one.
 *
 * @example
 *   batchSize({ batch: '25%', ... }, 6) // → 2
 */
export function batchSize(strategy: Pick<StrategyRecord, 'batch'>, hosts: number): number {
  const { batch } = strategy;
  const size =
    typeof batch === 'number' ? batch : Math.ceil((hosts * Number(batch.replace('%', ''))) / 100);
  return Math.max(1, size);
}

/** The release of an app a host last reported as current, or null. */
export function reportedVersion(host: HostRecord, app: string): number | null {
  return host.facts?.apps[app]?.current ?? null;
}

/** One planned install per target host, in batches of the strategy's size, in host-name order. */
export function planInstalls(
  deployment: { id: string; app: string; version: number; createdBy: string },
  strategy: Pick<StrategyRecord, 'batch'>,
  hosts: HostRecord[],
): NewInstall[] {
  const size = batchSize(strategy, hosts.length);
  return hosts.map((host, index) => ({
    id: newId('ins'),
    hostId: host.id,
    app: deployment.app,
    version: deployment.version,
    createdBy: deployment.createdBy,
    deploymentId: deployment.id,
    purpose: 'deploy',
    batch: Math.floor(index / size),
    fromVersion: reportedVersion(host, deployment.app),
    state: 'pending',
  }));
}
