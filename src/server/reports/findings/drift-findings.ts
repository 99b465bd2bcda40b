import type { NoteImpact } from '../../../protocol/note-api.js';
import type { Drift, DriftAspect, Finding } from '../../../protocol/report-api.js';
import { parseRequiresCheck, type RequiresCheck } from '../../../protocol/requires-check.js';
import { findDrift } from '../drift.js';
import { manifestValue, type ReportScope, runsReleaseNow, stepLog } from './report-scope.js';

/** How much each kind of drift suggests it matters. */
const IMPACT: Record<DriftAspect, NoteImpact> = {
  release: 'major',
  runtime: 'minor',
  config: 'minor',
  agent: 'minor',
  os: 'nil',
  kernel: 'nil',
};

/**
 * Drift now between the hosts of each environment the release went to that
 * run one of its bundles now (a report is of a release: what other releases
 * run is `ferry drift`'s business), among the hosts of its apps: the same
 * differences `ferry drift` shows (`findDrift`), runtimes among the hosts of
 * one of the apps' roles, one finding each, keyed `drift/<env>/<aspect>/<name>`
 * (with the role for a runtime: `drift/<env>/runtime/<role>/<name>`; with the
 * app for a release or a variable: `drift/<env>/config/<app>/<name>`). Each
 * title says it is about now.
 */
export function driftFindings(scope: ReportScope): Finding[] {
  const { facts } = scope;
  const apps = new Set(scope.apps);
  const appRoles = new Map<string, string>();
  for (const b of facts.bundles) {
    const role = manifestValue(b, 'role');
    appRoles.set(b.app, typeof role === 'string' ? role : b.app);
  }
  const hosts = facts.hosts.filter((h) => scope.envs.includes(h.env) && runsReleaseNow(scope, h));
  const drift = findDrift({
    hosts,
    desired: facts.desired.filter((d) => apps.has(d.app)),
    runningConfig: facts.runningConfig.filter((c) => apps.has(c.app)),
    setPerHost: facts.setPerHost,
    requires: latestRequires(scope),
    appRoles,
    roles: new Set(appRoles.values()),
  }).filter((d) => d.app === null || apps.has(d.app));
  const away = new Set(hosts.filter((h) => !h.connected).map((h) => h.name));
  return drift.map((d) => finding(d, away));
}

function finding(d: Drift, away: ReadonlySet<string>): Finding {
  const key =
    d.app === null
      ? d.aspect === 'runtime' && d.role !== null
        ? `drift/${d.env}/runtime/${d.role}/${d.name}`
        : `drift/${d.env}/${d.aspect}/${d.name}`
      : d.aspect === 'release'
        ? `drift/${d.env}/release/${d.app}`
        : `drift/${d.env}/${d.aspect}/${d.app}/${d.name}`;
  const shown = (value: string | null) =>
    value === null ? (d.aspect === 'release' ? 'none' : '(not set)') : value;
  const entries = d.values.flatMap((v) =>
    v.hosts.map((host) => ({
      host,
      text:
        (d.aspect === 'release'
          ? `runs ${d.name}@${shown(v.value)}${d.expected === null ? '' : `, desired ${d.expected}`}`
          : `${d.name} ${shown(v.value)}`) + (away.has(host) ? ' (away: its last facts)' : ''),
      quote: null,
      count: null,
    })),
  );
  const spread = d.values.map((v) => `${shown(v.value)} on ${v.hosts.join(', ')}`).join('; ');
  const hostsOf = d.role === null ? 'hosts' : `hosts of role ${d.role}`;
  const title =
    d.aspect === 'release'
      ? `Hosts in ${d.env} not on ${d.name}'s desired release ${d.expected ?? '(none)'} now: ${spread}`
      : d.aspect === 'config'
        ? `${d.name} of ${d.app} differs now between ${hostsOf} in ${d.env}: ${spread}`
        : `${d.aspect === 'runtime' ? d.name : d.aspect} differs now between ${hostsOf} in ${d.env}: ${spread}`;
  return {
    key,
    kind: 'drift',
    title,
    suggestedImpact: IMPACT[d.aspect],
    env: d.env,
    app: d.app,
    entries,
    data: { aspect: d.aspect, name: d.name, role: d.role, expected: d.expected, values: d.values },
    confirmedBy: null,
  };
}

/** Per host, the newest `requires` result any install of the release recorded. */
function latestRequires(scope: ReportScope): Array<{ hostId: string; check: RequiresCheck }> {
  const latest = new Map<string, RequiresCheck>();
  for (const entry of scope.facts.installs) {
    const log = stepLog(entry, 'requires');
    const check = log ? parseRequiresCheck(log.stdout) : null;
    if (check) latest.set(entry.install.hostId, check);
  }
  return [...latest].map(([hostId, check]) => ({ hostId, check }));
}
