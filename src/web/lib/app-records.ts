import type { EnvironmentRecord, VerdictState } from '../../protocol/api.js';
import type {
  DeploymentRecord,
  EnvironmentStatus,
  HistoryEntry,
} from '../../protocol/deployment-api.js';
import { hasLanded } from '../../protocol/lifecycle.js';

/**
 * Each bundle's verdict now, from an app's history (newest first): its
 * latest verdict line; a version without one is pending.
 */
export function verdictsByVersion(history: readonly HistoryEntry[]): Map<number, VerdictState> {
  const verdicts = new Map<number, VerdictState>();
  for (const entry of history) {
    if (entry.type !== 'verdict' || entry.version === null || verdicts.has(entry.version)) continue;
    if (entry.detail === 'passed' || entry.detail === 'failed')
      verdicts.set(entry.version, entry.detail);
  }
  return verdicts;
}

/**
 * The versions among `shown` whose verdict an app's history does not tell:
 * none when the history is whole; when it was cut at its limit (the newest
 * entries only), those with no verdict line in it — their last change may be
 * older, so it is asked for bundle by bundle.
 */
export function versionsBeyondHistory(
  history: readonly HistoryEntry[],
  whole: boolean,
  shown: readonly number[],
): number[] {
  if (whole) return [];
  const told = verdictsByVersion(history);
  return shown.filter((version) => !told.has(version));
}

/** Where promoting a bundle goes, or why it cannot be promoted. */
export type PromotionTarget = { env: string } | { env: null; reason: string };

/**
 * The environment `promote` would deploy a bundle to, as the server chooses
 * it: after the last environment (in lifecycle order) where the bundle
 * landed — or that one again when it runs an older version there now.
 */
export function promotionTarget(
  app: string,
  version: number,
  environments: readonly Pick<EnvironmentRecord, 'name'>[],
  deployments: readonly Pick<DeploymentRecord, 'version' | 'env' | 'state'>[],
  status: readonly Pick<EnvironmentStatus, 'env' | 'desired'>[],
): PromotionTarget {
  const landedIn = new Set(
    deployments.filter((d) => d.version === version && hasLanded(d.state)).map((d) => d.env),
  );
  let last = -1;
  environments.forEach((env, index) => {
    if (landedIn.has(env.name)) last = index;
  });
  if (last === -1) {
    return { env: null, reason: `${app}@${version} has not succeeded in any environment yet` };
  }
  const lastEnv = environments[last]!;
  const desired = status.find((s) => s.env === lastEnv.name)?.desired?.version;
  if (desired !== undefined && desired < version) return { env: lastEnv.name };
  const next = environments[last + 1];
  if (!next) return { env: null, reason: `already in ${lastEnv.name}, the last environment` };
  return { env: next.name };
}

/**
 * The versions a rollback of an environment may go to, newest first: those
 * that landed there before, other than the one it should run now; the first
 * is the one `ferry rollback` picks without `--to`.
 */
export function rollbackVersions(
  env: string,
  desired: number | null,
  deployments: readonly Pick<DeploymentRecord, 'version' | 'env' | 'state'>[],
): number[] {
  const versions = new Set<number>();
  for (const d of deployments) {
    if (d.env === env && hasLanded(d.state) && d.version !== desired) versions.add(d.version);
  }
  const sorted = [...versions].sort((a, b) => b - a);
  // Going back means older first; a newer one that landed before stays offered after them.
  return desired === null
    ? sorted
    : [...sorted.filter((v) => v < desired), ...sorted.filter((v) => v > desired)];
}

/** What a rollback will do on one host: "v13 → v12", or that it stays. */
export function hostPlan(host: { host: string; version: number | null }, target: number): string {
  if (host.version === target) return `${host.host}: stays on v${target}`;
  return `${host.host}: ${host.version === null ? 'nothing' : `v${host.version}`} → v${target}`;
}
