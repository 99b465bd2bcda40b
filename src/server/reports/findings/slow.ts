import type { Finding } from '../../../protocol/report-api.js';
import { groupBy, latestInstalls, type ReportScope } from './report-scope.js';

/** A step is slow on a host when it took more than this many times the median of the environment's hosts… */
export const SLOW_FACTOR = 3;
/** …and more than this much longer: a step of 100 ms against 20 ms is not worth a finding. */
export const SLOW_MARGIN_MS = 5000;
/** Fewer hosts than this give no median worth comparing with. */
const MIN_HOSTS = 3;

/**
 * Slow steps: for each app of the release, environment and step, the hosts on
 * which the step took far longer than its median over the environment's hosts
 * (more than `SLOW_FACTOR` × the median and `SLOW_MARGIN_MS` more), judged by
 * each host's last install of one of the release's bundles of the app — one
 * finding per `slow/<app>/<env>/<step>`, like warnings: two versions of an app
 * under one label, or a revert to the version before, never give two findings
 * with one key.
 */
export function slowFindings(scope: ReportScope): Finding[] {
  const inRelease = new Set(scope.facts.bundles.map((b) => `${b.app}@${b.version}`));
  const order = new Map(scope.facts.installs.map((e, i) => [e.install.id, i]));
  const timed = latestInstalls(scope.facts)
    .filter((e) => inRelease.has(`${e.install.app}@${e.install.version}`))
    // Oldest first (as `installs` are), so that a host's later install of another version wins below.
    .sort((a, b) => order.get(a.install.id)! - order.get(b.install.id)!)
    .flatMap((entry) =>
      entry.logs
        .filter((l) => l.durationMs !== null && l.state !== 'running')
        .map((l) => ({ entry, step: l.step, ms: l.durationMs! })),
    );
  const findings: Finding[] = [];
  const groups = groupBy(timed, (t) => `${t.entry.install.app}\0${t.entry.env}\0${t.step}`);
  for (const [group, items] of groups) {
    const [app, env, step] = group.split('\0') as [string, string, string];
    // One time per host: its last install's, and a step that ran twice counts by its last run.
    const last = new Map(items.map((t) => [t.entry.install.host, t]));
    const byHost = new Map([...last].map(([host, t]) => [host, t.ms]));
    if (byHost.size < MIN_HOSTS) continue;
    const median = medianOf([...byHost.values()]);
    const slow = [...byHost]
      .filter(([, ms]) => ms > SLOW_FACTOR * median && ms - median > SLOW_MARGIN_MS)
      .sort(([a], [b]) => a.localeCompare(b));
    if (slow.length === 0) continue;
    const versionOf = (host: string) => last.get(host)!.entry.install.version;
    const versions = [...new Set(slow.map(([h]) => versionOf(h)))].sort((a, b) => a - b);
    findings.push({
      key: `slow/${app}/${env}/${step}`,
      kind: 'slow',
      title: `${versions.map((v) => `${app}@${v}`).join(' and ')}'s ${step} step was slow on ${slow.map(([h]) => h).join(', ')} in ${env} (median ${seconds(median)})`,
      suggestedImpact: 'minor',
      env,
      app,
      entries: slow.map(([host, ms]) => ({
        host,
        text: `${step} took ${seconds(ms)}, ${(ms / Math.max(median, 1)).toFixed(1)}× the median of ${byHost.size} hosts${versions.length > 1 ? ` (${app}@${versionOf(host)})` : ''}`,
        quote: null,
        count: null,
      })),
      data: {
        step,
        versions,
        medianMs: median,
        durationsMs: Object.fromEntries(slow),
      },
      confirmedBy: null,
    });
  }
  return findings;
}

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
