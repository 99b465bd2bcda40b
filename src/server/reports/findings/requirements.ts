import { parseRequiresCheck, type RequirementCheck } from '../../../protocol/requires-check.js';
import type { Finding, FindingEntry } from '../../../protocol/report-api.js';
import {
  compareVersions,
  parseVersion,
  parseVersionRange,
  satisfies,
} from '../../../bundle/version-range.js';
import { groupBy, latestInstalls, plural, type ReportScope, stepLog } from './report-scope.js';

/**
 * Requirements: for each app and environment, the hosts whose `requires`
 * step found them short of the manifest's `requires` (what they have, what is
 * needed) — `requirements/<app>/<env>/<name>`, major — and the hosts that meet
 * a runtime's range only at its edge: on the range's last major when the next
 * one leaves it, or on its exact minimum — `requirements/<app>/<env>/<name>/edge`, nil.
 * A host is judged by its last install of a bundle that recorded the check.
 */
export function requirementFindings(scope: ReportScope): Finding[] {
  const findings: Finding[] = [];
  const order = new Map(scope.facts.installs.map((e, i) => [e.install.id, i]));
  // Oldest first (as `installs` are): a host's later check, of any version, wins below.
  const latest = latestInstalls(scope.facts).sort(
    (a, b) => order.get(a.install.id)! - order.get(b.install.id)!,
  );
  const checked = latest.flatMap((entry) => {
    const log = stepLog(entry, 'requires');
    const result = log ? parseRequiresCheck(log.stdout) : null;
    return result
      ? result.checks.map((check) => ({
          env: entry.env,
          app: entry.install.app,
          host: entry.install.host,
          check,
        }))
      : [];
  });
  const groups = groupBy(checked, (c) => `${c.app}\0${c.env}\0${c.check.name}`);
  for (const [group, items] of groups) {
    const [app, env, name] = group.split('\0') as [string, string, string];
    const byHost = new Map(items.map((i) => [i.host, i.check]));
    const hosts = [...byHost.keys()].sort();
    const unmet: FindingEntry[] = [];
    const edge: FindingEntry[] = [];
    for (const host of hosts) {
      const check = byHost.get(host)!;
      if (!check.ok) unmet.push({ host, text: shortOf(check), quote: null, count: null });
      else {
        const why = nearEdge(check);
        if (why)
          edge.push({
            host,
            text: `has ${check.found}, needs ${check.needed}: ${why}`,
            quote: null,
            count: null,
          });
      }
    }
    // Two versions of the app in the group may need different ranges: say each the hosts were held to.
    const neededBy = (entries: readonly FindingEntry[]) =>
      [...new Set(entries.map((e) => byHost.get(e.host!)!.needed))].join(' or ');
    if (unmet.length > 0) {
      const needed = neededBy(unmet);
      findings.push({
        key: `requirements/${app}/${env}/${name}`,
        kind: 'requirements',
        title: `${plural(unmet.length, 'host')} in ${env} ${unmet.length === 1 ? 'does' : 'do'} not meet ${app}'s requirement ${name} ${needed}`,
        suggestedImpact: 'major',
        env,
        app,
        entries: unmet,
        data: { name, kind: items[0]!.check.kind, needed, found: foundBy(byHost, unmet) },
        confirmedBy: null,
      });
    }
    if (edge.length > 0) {
      const needed = neededBy(edge);
      findings.push({
        key: `requirements/${app}/${env}/${name}/edge`,
        kind: 'requirements',
        title: `${plural(edge.length, 'host')} in ${env} at the edge of ${app}'s requirement ${name} ${needed}`,
        suggestedImpact: 'nil',
        env,
        app,
        entries: edge,
        data: { name, kind: 'runtime', needed, found: foundBy(byHost, edge) },
        confirmedBy: null,
      });
    }
  }
  return findings;
}

function shortOf(check: RequirementCheck): string {
  if (check.kind === 'command') return `command ${check.name} is not on the PATH`;
  return check.found === null
    ? `has no ${check.name}, needs ${check.needed}`
    : `has ${check.name} ${check.found}, needs ${check.needed}`;
}

function foundBy(
  byHost: ReadonlyMap<string, RequirementCheck>,
  entries: readonly FindingEntry[],
): Record<string, string | null> {
  return Object.fromEntries(entries.map((e) => [e.host!, byHost.get(e.host!)!.found]));
}

/**
 * Why a runtime that meets its range is near its limit, or null: the next
 * major leaves the range while the one before is in it (the host is on the
 * range's last major: `>=20 <23` with 22.x); or, for a range whose upper
 * bound is on the minor, the next minor leaves it while the one before is in
 * it (`>=3.8 <3.13` with 3.12.x); or it has the minimum exactly. A range of
 * one major or one minor (`^20.11`, `3.11.x`) pins it on purpose and says nothing.
 */
export function nearEdge(check: RequirementCheck): string | null {
  if (check.kind !== 'runtime' || !check.ok || check.found === null) return null;
  const range = parseVersionRange(check.needed);
  const version = parseVersion(check.found);
  if (!range || !version) return null;
  const [major] = version;
  const nextMajor = `${major + 1}.0.0`;
  const lastOfPrevious = `${major - 1}.999999999.999999999`;
  if (major > 0 && !satisfies(nextMajor, range) && satisfies(lastOfPrevious, range)) {
    return `the next major (${major + 1}) leaves the range`;
  }
  const [, minor] = version;
  const nextMinor = `${major}.${minor + 1}.0`;
  const lastOfPreviousMinor = `${major}.${minor - 1}.999999999`;
  if (minor > 0 && !satisfies(nextMinor, range) && satisfies(lastOfPreviousMinor, range)) {
    return `the next minor (${major}.${minor + 1}) leaves the range`;
  }
  const atMinimum = range.sets.some((set) =>
    set.some((b) => b.op === '>=' && compareVersions(b.version, version) === 0),
  );
  return atMinimum ? 'the minimum exactly' : null;
}
