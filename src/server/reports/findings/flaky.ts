import type { Finding } from '../../../protocol/report-api.js';
import { groupBy, latestInstalls, type ReportScope, stepLog } from './report-scope.js';

/** A health check that needed this many attempts or more to pass is flaky. */
export const FLAKY_ATTEMPTS = 3;

/** What the health step writes: `4 attempts in 3012 ms`. */
const ATTEMPTS = /^(\d+) attempts? in (\d+) ms$/m;

/**
 * Flaky health checks: hosts whose health check passed, but only after
 * several attempts (the health step's stdout says `N attempts in M ms`),
 * judged by each host's last install — `flaky/<app>/<env>/health`.
 */
export function flakyFindings(scope: ReportScope): Finding[] {
  const slowToPass = latestInstalls(scope.facts).flatMap((entry) => {
    const log = stepLog(entry, 'health');
    const match = log?.state === 'succeeded' ? ATTEMPTS.exec(log.stdout) : null;
    const attempts = match ? Number(match[1]) : 0;
    return attempts >= FLAKY_ATTEMPTS
      ? [{ entry, attempts, ms: Number(match![2]), line: match![0] }]
      : [];
  });
  const findings: Finding[] = [];
  for (const [group, items] of groupBy(
    slowToPass,
    (i) => `${i.entry.install.app}\0${i.entry.env}`,
  )) {
    const [app, env] = group.split('\0') as [string, string];
    // Two versions of the app in one release: the host's newest install speaks for it.
    const byHost = new Map<string, (typeof items)[number]>();
    for (const i of items) {
      const seen = byHost.get(i.entry.install.host);
      if (!seen || seen.entry.install.createdAt < i.entry.install.createdAt) {
        byHost.set(i.entry.install.host, i);
      }
    }
    const hosts = [...byHost.keys()].sort();
    findings.push({
      key: `flaky/${app}/${env}/health`,
      kind: 'flaky',
      title: `${app}'s health check passed only after several attempts on ${hosts.join(', ')} in ${env}`,
      suggestedImpact: 'minor',
      env,
      app,
      entries: hosts.map((host) => {
        const i = byHost.get(host)!;
        return {
          host,
          text: `passed at attempt ${i.attempts}, after ${i.ms} ms (${app}@${i.entry.install.version})`,
          quote: i.line,
          count: i.attempts,
        };
      }),
      data: {
        step: 'health',
        attempts: Object.fromEntries(hosts.map((h) => [h, byHost.get(h)!.attempts])),
      },
      confirmedBy: null,
    });
  }
  return findings;
}
