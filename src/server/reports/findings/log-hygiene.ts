import type { HostRecord } from '../../../protocol/api.js';
import type { Finding, FindingEntry } from '../../../protocol/report-api.js';
import {
  bundleOf,
  manifestValue,
  plural,
  type ReportScope,
  runsReleaseNow,
} from './report-scope.js';

/** A service command that runs Python: the interpreter, or a server or worker written in it. */
const PYTHON_COMMAND =
  /(?:^|[\s/;&|(])(?:python[0-9.]*|gunicorn|uwsgi|celery|uvicorn|hypercorn|daphne|waitress-serve|flask|django-admin|manage\.py)(?:\s|$)/;

/** A service this young may not have printed yet: an empty stdout says nothing of buffering. */
export const QUIET_AFTER_SECONDS = 30;

/**
 * Log hygiene now, for each app of the release and environment it went to,
 * from the facts of the hosts that run one of the release's versions of the
 * app now (another release's logs are not this release's): a running service whose stdout and stderr go to the same
 * file (`log-hygiene/<app>/<env>/merged-output`), and a Python service whose
 * stdout log stayed empty while it ran — its output sits in a buffer
 * (`log-hygiene/<app>/<env>/buffered-output`).
 */
export function logHygieneFindings(scope: ReportScope): Finding[] {
  const findings: Finding[] = [];
  for (const env of scope.envs) {
    const hosts = scope.facts.hosts
      .filter((h) => h.env === env)
      .sort((a, b) => a.name.localeCompare(b.name));
    for (const app of scope.apps) {
      const merged: FindingEntry[] = [];
      const buffered: FindingEntry[] = [];
      for (const host of hosts) {
        const service = host.facts?.apps[app]?.service;
        if (!service?.running || !runsReleaseNow(scope, host, app)) continue;
        if (service.mergedOutput === true) {
          merged.push({
            host: host.name,
            text: `${app}'s service writes stdout and stderr to the same place`,
            quote: null,
            count: null,
          });
        }
        const uptime = service.uptimeSeconds;
        // An unknown uptime may be a service just started: say nothing of it.
        const quiet = uptime !== null && uptime >= QUIET_AFTER_SECONDS;
        if (service.stdoutBytes === 0 && quiet && runsPython(scope, host, app)) {
          buffered.push({
            host: host.name,
            text: `${app}'s stdout log is empty after ${Math.round(uptime)} s running`,
            quote: null,
            count: null,
          });
        }
      }
      if (merged.length > 0) {
        findings.push({
          key: `log-hygiene/${app}/${env}/merged-output`,
          kind: 'log-hygiene',
          title: `${app}'s stdout and stderr go to the same log now on ${plural(merged.length, 'host')} in ${env}`,
          suggestedImpact: 'minor',
          env,
          app,
          entries: merged,
          data: {
            problem: 'merged-output',
            hint: 'a supervisord program with redirect_stderr=true, a systemd unit without a separate StandardError=, or a command ending in 2>&1',
          },
          confirmedBy: null,
        });
      }
      if (buffered.length > 0) {
        findings.push({
          key: `log-hygiene/${app}/${env}/buffered-output`,
          kind: 'log-hygiene',
          title: `${app} is a Python service whose stdout is empty now on ${plural(buffered.length, 'host')} in ${env}: its output may sit in a buffer`,
          suggestedImpact: 'minor',
          env,
          app,
          entries: buffered,
          data: {
            problem: 'buffered-output',
            hint: 'Python buffers stdout that is not a terminal: leave PYTHONUNBUFFERED=1 (Ferry sets it) or run python -u',
          },
          confirmedBy: null,
        });
      }
    }
  }
  return findings;
}

/**
 * True when the host's release of `app` runs Python by its manifest: its
 * service command does, or its `service.env` sets `PYTHONUNBUFFERED` to the
 * empty string (a team that turned buffering back on, whatever the command).
 * Python takes any other value, `0` too, as "unbuffered".
 */
function runsPython(scope: ReportScope, host: HostRecord, app: string): boolean {
  const bundle = bundleOf(scope.facts, app, host.facts?.apps[app]?.current ?? null);
  const command = manifestValue(bundle, 'service', 'command');
  const unbuffered = manifestValue(bundle, 'service', 'env', 'PYTHONUNBUFFERED');
  if (unbuffered === '') return true;
  return typeof command === 'string' && PYTHON_COMMAND.test(command);
}
