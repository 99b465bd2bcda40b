import { createHash } from 'node:crypto';
import type { HostRecord } from '../../protocol/api.js';
import type { Runtimes } from '../../protocol/host-facts.js';
import type { Drift, DriftAspect } from '../../protocol/report-api.js';
import type { RequiresCheck } from '../../protocol/requires-check.js';
import type { ConfigSnapshot } from '../../store/install-store.js';
import type { VariableScope } from '../../store/variable-store.js';

/**
 * What drift is found in: the hosts with their last facts (away ones too), the
 * desired releases, the configuration each host's current release runs with,
 * and optionally what `requires` steps found and the role each app targets.
 */
export interface DriftInput {
  hosts: readonly HostRecord[];
  desired: ReadonlyArray<{ env: string; app: string; version: number }>;
  /** Secret values are in the clear here: they are compared by hash and never shown. */
  runningConfig: ReadonlyArray<{ hostId: string; app: string; snapshot: ConfigSnapshot }>;
  /**
   * The newest `requires` result per host: the runtime versions the app's
   * commands see, used where the host's facts know none.
   */
  requires?: ReadonlyArray<{ hostId: string; check: RequiresCheck }>;
  /**
   * Variables set on one host on purpose (scoped to it on the server; `app`
   * null: for every app): such a variable differs between hosts by design and
   * is no drift. A host's enrolment variables (`HostRecord.vars`) count too.
   */
  setPerHost?: ReadonlyArray<{ host: string; name: string; app: string | null }>;
  /** The role each app targets (from its newest bundle); without it, an app's hosts are those that have it. */
  appRoles?: ReadonlyMap<string, string>;
  /** Only these roles' runtimes (else every role of the compared hosts). */
  roles?: ReadonlySet<string>;
  /** Only this environment. */
  env?: string;
  /** Only this app's release and configuration, and only the hosts that run it. */
  app?: string;
}

const RUNTIMES: readonly (keyof Runtimes)[] = ['node', 'npm', 'python3', 'pip'];
/** A `requires` name that is a runtime of the facts under another name. */
const REQUIRES_RUNTIME: Record<string, keyof Runtimes> = {
  node: 'node',
  npm: 'npm',
  python: 'python3',
  pip: 'pip',
};

/**
 * The differences between hosts of one environment that should agree: runtime
 * versions among the hosts of one role (a web host's python3 is no business of
 * a backend host's), OS, kernel, agent version, the release each app runs against the
 * desired one, and each variable of an app's configuration among the hosts of
 * its role (secrets by a hash of their value, shown as `(secret #1)`). Pure:
 * the report's drift findings and `ferry drift` both call it.
 *
 * @example
 *   findDrift({ hosts, desired, runningConfig, env: 'qa' });
 *   // [{ env: 'qa', aspect: 'runtime', name: 'node', values: [{ value: '20.11.1', hosts: ['web-1', 'web-2'] }, { value: '18.19.0', hosts: ['web-3'] }], … }]
 */
export function findDrift(input: DriftInput): Drift[] {
  const drift: Drift[] = [];
  const hosts = comparedHosts(input);
  const envs = [...new Set(hosts.map((h) => h.env))].sort();
  for (const env of envs) {
    const here = hosts.filter((h) => h.env === env);
    const runtimes = runtimesOf(here, input.requires ?? []);
    for (const { role, hosts: ofRole } of roleGroups(input, here)) {
      for (const name of RUNTIMES) {
        const valueOf = (h: HostRecord) => runtimes.get(h.id)?.[name] ?? null;
        add(drift, env, 'runtime', name, ofRole, valueOf, role);
      }
    }
    add(drift, env, 'os', 'os', here, (h) => h.facts?.os ?? null);
    add(drift, env, 'kernel', 'kernel', here, (h) => h.facts?.kernel ?? null);
    add(drift, env, 'agent', 'agent', here, (h) => h.facts?.agentVersion ?? null);
    for (const app of appsOf(input, here)) {
      const ofApp = here.filter((h) => runsApp(input, h, app));
      drift.push(...releaseDrift(input, env, app, ofApp));
      drift.push(...configDrift(input, env, app, ofApp));
    }
  }
  return drift;
}

/** The hosts `findDrift` compares: with facts, in the asked environment, running the asked app. */
export function comparedHosts(input: DriftInput): HostRecord[] {
  return input.hosts
    .filter((h) => h.facts !== null && h.revokedAt === null)
    .filter((h) => input.env === undefined || h.env === input.env)
    .filter((h) => input.app === undefined || runsApp(input, h, input.app))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** True when `host` is one of `app`'s: it has the app's role, or (role unknown) has the app. */
function runsApp(input: DriftInput, host: HostRecord, app: string): boolean {
  const role = input.appRoles?.get(app);
  if (role !== undefined && host.roles.includes(role)) return true;
  return host.facts?.apps[app] !== undefined;
}

/**
 * The hosts whose runtimes are compared with each other: those of one role
 * (with an app, the app's hosts, under its role).
 */
function roleGroups(
  input: DriftInput,
  hosts: readonly HostRecord[],
): Array<{ role: string | null; hosts: HostRecord[] }> {
  if (input.app !== undefined) {
    return [{ role: input.appRoles?.get(input.app) ?? null, hosts: [...hosts] }];
  }
  const roles = [...new Set(hosts.flatMap((h) => h.roles))]
    .filter((r) => input.roles === undefined || input.roles.has(r))
    .sort();
  return roles.map((role) => ({ role, hosts: hosts.filter((h) => h.roles.includes(role)) }));
}

function appsOf(input: DriftInput, hosts: readonly HostRecord[]): string[] {
  if (input.app !== undefined) return [input.app];
  const apps = new Set(hosts.flatMap((h) => Object.keys(h.facts?.apps ?? {})));
  for (const d of input.desired) apps.add(d.app);
  return [...apps].filter((app) => hosts.some((h) => runsApp(input, h, app))).sort();
}

/** Each host's runtimes: its facts', with what `requires` found where the facts know none. */
function runtimesOf(
  hosts: readonly HostRecord[],
  requires: NonNullable<DriftInput['requires']>,
): Map<string, Runtimes> {
  const found = new Map<string, Runtimes>();
  for (const h of hosts) found.set(h.id, { ...h.facts!.runtimes });
  for (const { hostId, check } of requires) {
    const runtimes = found.get(hostId);
    if (!runtimes) continue;
    for (const c of check.checks) {
      const name = REQUIRES_RUNTIME[c.name];
      if (c.kind === 'runtime' && name && runtimes[name] === null) runtimes[name] = c.found;
    }
  }
  return found;
}

/** Pushes a drift when the hosts' known values of one thing differ (unknown ones are left out). */
function add(
  drift: Drift[],
  env: string,
  aspect: DriftAspect,
  name: string,
  hosts: readonly HostRecord[],
  valueOf: (host: HostRecord) => string | null,
  role: string | null = null,
): void {
  const known = hosts.filter((h) => valueOf(h) !== null);
  const values = valuesOf(known, valueOf);
  if (values.length > 1) {
    drift.push({ env, aspect, name, app: null, role, expected: null, values });
  }
}

/** Hosts whose current release of `app` is not the desired one (or, with none desired, that disagree). */
function releaseDrift(input: DriftInput, env: string, app: string, hosts: HostRecord[]): Drift[] {
  const desired = input.desired.find((d) => d.env === env && d.app === app);
  const valueOf = (h: HostRecord) => {
    const current = h.facts?.apps[app]?.current;
    return current === null || current === undefined ? null : String(current);
  };
  const values = valuesOf(hosts, valueOf);
  const expected = desired ? String(desired.version) : null;
  const differs = expected === null ? values.length > 1 : values.some((v) => v.value !== expected);
  if (!differs) return [];
  return [{ env, aspect: 'release', name: app, app, role: null, expected, values }];
}

/**
 * Variables of `app`'s running configuration whose value differs between the
 * hosts of its role that run the same release, leaving out those set per host
 * on purpose.
 */
function configDrift(input: DriftInput, env: string, app: string, hosts: HostRecord[]): Drift[] {
  const snapshots = new Map<string, ConfigSnapshot>();
  for (const c of input.runningConfig) if (c.app === app) snapshots.set(c.hostId, c.snapshot);
  // Hosts on another release are release drift already; a variable only one
  // release uses would differ there by design. Compare those on the desired
  // release (else the most common one).
  const release = (h: HostRecord) => h.facts?.apps[app]?.current ?? null;
  const byRelease = new Map<number | null, HostRecord[]>();
  for (const h of hosts.filter((h) => snapshots.has(h.id))) {
    byRelease.set(release(h), [...(byRelease.get(release(h)) ?? []), h]);
  }
  const desired = input.desired.find((d) => d.env === env && d.app === app)?.version;
  const withConfig =
    (desired === undefined ? undefined : byRelease.get(desired)) ??
    [...byRelease.values()].sort((a, b) => b.length - a.length)[0] ??
    [];
  if (withConfig.length < 2) return [];
  const names = new Set(withConfig.flatMap((h) => Object.keys(snapshots.get(h.id)!.vars)));
  const perHost = new Set(
    (input.setPerHost ?? [])
      .filter((v) => v.app === null || v.app === app)
      .map((v) => `${v.host}\0${v.name}`),
  );
  const setOn = (h: HostRecord, name: string) =>
    Object.hasOwn(h.vars, name) || perHost.has(`${h.name}\0${name}`);
  const drift: Drift[] = [];
  for (const name of [...names].sort()) {
    if (withConfig.some((h) => setOn(h, name))) continue;
    const secret = withConfig.some((h) => snapshots.get(h.id)!.secrets.includes(name));
    const raw = (h: HostRecord) => snapshots.get(h.id)!.vars[name] ?? null;
    const valueOf = secret
      ? (h: HostRecord) => {
          const value = raw(h);
          return value === null
            ? null
            : `sha256:${createHash('sha256').update(value).digest('hex')}`;
        }
      : raw;
    let values = valuesOf(withConfig, valueOf);
    if (values.length < 2) continue;
    // A secret's hash says nothing to a person and must not be shown: number them.
    if (secret) {
      let n = 0;
      values = values.map((v) => ({ ...v, value: v.value === null ? null : `(secret #${++n})` }));
    }
    drift.push({
      env,
      aspect: 'config',
      name,
      app,
      role: input.appRoles?.get(app) ?? null,
      expected: null,
      values,
    });
  }
  return drift;
}

/** Each value and its hosts, the most common first (then by the first host's name). */
function valuesOf(
  hosts: readonly HostRecord[],
  valueOf: (host: HostRecord) => string | null,
): Drift['values'] {
  const byValue = new Map<string | null, string[]>();
  for (const h of hosts) {
    const value = valueOf(h);
    byValue.set(value, [...(byValue.get(value) ?? []), h.name]);
  }
  return [...byValue]
    .map(([value, names]) => ({ value, hosts: names.sort() }))
    .sort((a, b) => b.hosts.length - a.hosts.length || a.hosts[0]!.localeCompare(b.hosts[0]!));
}

/**
 * The variables set on the server for single hosts, by name: what
 * `DriftInput.setPerHost` wants (values are not kept).
 *
 * @example
 *   const setPerHost = perHostVariables(await store.variables.list({ scopes: hostScopes(hosts) }));
 */
export function perHostVariables(
  variables: ReadonlyArray<{ name: string; scope: VariableScope }>,
): Array<{ host: string; name: string; app: string | null }> {
  return variables.flatMap((v) =>
    v.scope.kind === 'host'
      ? [{ host: v.scope.value, name: v.name, app: v.scope.app ?? null }]
      : [],
  );
}

/** The scopes of each host's own variables. */
export function hostScopes(hosts: readonly HostRecord[]): VariableScope[] {
  return hosts.map((h) => ({ kind: 'host', value: h.name }));
}
