import type { BundleDetail, HostRecord, StepLog } from '../../../protocol/api.js';
import type { ReportFacts, ReportInstallFacts } from '../report-facts.js';

/**
 * What the findings of one report look at, read once from its facts: the
 * release's apps, the environments it went to, and its installs grouped the
 * way every kind of finding compares them. Pure, like the findings.
 */
export interface ReportScope {
  facts: ReportFacts;
  /** The release's apps, sorted. */
  apps: string[];
  /** The environments the release has installs in, in lifecycle order. */
  envs: string[];
  /** Each host by id. */
  hosts: Map<string, HostRecord>;
}

/** The scope of a report's findings. */
export function reportScope(facts: ReportFacts): ReportScope {
  const apps = [...new Set(facts.bundles.map((b) => b.app))].sort();
  const order = new Map(facts.environments.map((e, i) => [e.name, i]));
  const envs = [...new Set(facts.installs.map((i) => i.env))].sort(
    (a, b) => (order.get(a) ?? Infinity) - (order.get(b) ?? Infinity) || a.localeCompare(b),
  );
  return { facts, apps, envs, hosts: new Map(facts.hosts.map((h) => [h.id, h])) };
}

/**
 * True when `host` runs `app` now (by its facts) at one of the release's
 * versions: the hosts whose present, not another release's, findings about
 * now (drift, log hygiene) judge.
 */
export function runsReleaseNow(scope: ReportScope, host: HostRecord, app?: string): boolean {
  return scope.facts.bundles.some(
    (b) => (app === undefined || b.app === app) && host.facts?.apps[b.app]?.current === b.version,
  );
}

/** The hosts of `env` that are not removed, by name. */
export function hostsOf(scope: ReportScope, env: string): HostRecord[] {
  return scope.facts.hosts
    .filter((h) => h.env === env)
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The newest install per host of each `(env, app, version)`: a host that was
 * installed twice (a retry, a catch-up) is judged by its last attempt.
 */
export function latestInstalls(facts: ReportFacts): ReportInstallFacts[] {
  const latest = new Map<string, ReportInstallFacts>();
  // `installs` are oldest first: a later one replaces an earlier one.
  for (const entry of facts.installs) {
    const { install } = entry;
    latest.set(`${entry.env}\0${install.app}\0${install.version}\0${install.hostId}`, entry);
  }
  return [...latest.values()];
}

/** Groups `items` by a key, keeping their order inside each group and the groups' first-seen order. */
export function groupBy<T>(items: Iterable<T>, key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

/** The step named `step` of an install's logs (the last, when a step ran twice). */
export function stepLog(entry: ReportInstallFacts, step: string): StepLog | undefined {
  return entry.logs.filter((l) => l.step === step).pop();
}

/** The bundle of `app` at `version`, or the newest of the app's in the release. */
export function bundleOf(
  facts: ReportFacts,
  app: string,
  version: number | null,
): BundleDetail | undefined {
  const ofApp = facts.bundles.filter((b) => b.app === app);
  return (
    ofApp.find((b) => b.version === version) ??
    ofApp.reduce<BundleDetail | undefined>(
      (a, b) => (a && a.version > b.version ? a : b),
      undefined,
    )
  );
}

/** A value of a bundle's manifest section, read without trusting its shape (it is stored JSON). */
export function manifestValue(bundle: BundleDetail | undefined, ...path: string[]): unknown {
  let value: unknown = bundle?.manifest;
  for (const key of path) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** `n thing` or `n things`. */
export function plural(n: number, thing: string, things = `${thing}s`): string {
  return `${n} ${n === 1 ? thing : things}`;
}
