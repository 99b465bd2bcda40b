import type {
  InstallFailure,
  ReportDeployment,
  ReportEnvironment,
  ReportInstall,
} from '../../protocol/report-api.js';
import type { ReportStepLog } from '../../store/install-store.js';
import { QUOTE_MAX } from './findings/warnings.js';
import type { ReportFacts, ReportInstallFacts } from './report-facts.js';

/** How many lines of a failed step's output a report quotes. */
export const FAILURE_LINES = 20;

/**
 * The report's environments, in lifecycle order: each one the release was
 * deployed or installed in, with its deployments (oldest first) and, host by
 * host, every install of the release's bundles there — deploys, reverts,
 * catch-ups and installs by hand — with each step and, for a failure, where
 * and why it failed.
 */
export function reportEnvironments(facts: ReportFacts): ReportEnvironment[] {
  const order = facts.environments.map((e) => e.name);
  // An environment no longer configured still has its records: it goes last.
  for (const name of [...facts.deployments.map((d) => d.env), ...facts.installs.map((i) => i.env)])
    if (!order.includes(name)) order.push(name);
  return order.flatMap((env) => {
    const deployments = facts.deployments.filter((d) => d.env === env);
    const installs = facts.installs.filter((i) => i.env === env);
    if (deployments.length === 0 && installs.length === 0) return [];
    const byHost = new Map<string, ReportInstall[]>();
    for (const install of installs) {
      const list = byHost.get(install.install.host) ?? [];
      list.push(reportInstall(install));
      byHost.set(install.install.host, list);
    }
    return [
      {
        env,
        deployments: deployments.map((d): ReportDeployment => ({
          id: d.id,
          app: d.app,
          version: d.version,
          kind: d.kind,
          state: d.state,
          createdBy: d.createdBy,
          createdAt: d.createdAt,
          finishedAt: d.finishedAt,
          error: d.error,
          migratedOn: d.migratedOn,
        })),
        hosts: [...byHost.entries()]
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([host, list]) => ({ host, installs: list })),
      },
    ];
  });
}

/** One install as the report shows it: its steps with their durations, and its failure. */
export function reportInstall({ install, logs }: ReportInstallFacts): ReportInstall {
  return {
    id: install.id,
    app: install.app,
    version: install.version,
    purpose: install.purpose,
    deploymentId: install.deploymentId,
    state: install.state,
    rolledBack: install.rolledBack,
    fromVersion: install.fromVersion,
    createdAt: install.createdAt,
    startedAt: install.startedAt,
    finishedAt: install.finishedAt,
    durationMs: between(install.startedAt, install.finishedAt),
    steps: install.steps.map((s) => ({
      step: s.step,
      state: s.state,
      exitCode: s.exitCode,
      durationMs: s.durationMs,
    })),
    failure: install.state === 'failed' ? failure({ install, logs }) : null,
  };
}

/**
 * Where a failed install failed: its last failed step (none when it was
 * refused before any step ran), that step's exit code, the install's error,
 * and the step's last lines of stderr — of stdout when stderr is empty.
 */
function failure({ install, logs }: Pick<ReportInstallFacts, 'install' | 'logs'>): InstallFailure {
  const step = install.steps.findLast((s) => s.state === 'failed') ?? null;
  const log: ReportStepLog | undefined = step ? logs.find((l) => l.step === step.step) : undefined;
  // The end of the output is in the tail a failed step's log carries; the head is all there is without one.
  const output = log ? (log.tail ?? log) : undefined;
  return {
    step: step?.step ?? null,
    exitCode: step?.exitCode ?? null,
    error: install.error ?? step?.error ?? null,
    lastLines: output ? lastLines(output.stderr.trim() === '' ? output.stdout : output.stderr) : [],
    logsCommand: `ferry logs ${install.id}`,
  };
}

/**
 * The last `FAILURE_LINES` lines of some output, trailing blank lines left
 * out, each cut to `QUOTE_MAX` characters (a progress bar redrawn with `\r`
 * is one line of megabytes).
 */
export function lastLines(output: string, count = FAILURE_LINES): string[] {
  const lines = output.replace(/\r\n/g, '\n').split('\n');
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  return lines.slice(-count).map((l) => (l.length > QUOTE_MAX ? l.slice(0, QUOTE_MAX) : l));
}

/** Milliseconds from one time to another, or null when either is unknown. */
export function between(from: string | null, to: string | null): number | null {
  if (from === null || to === null) return null;
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) && ms >= 0 ? ms : null;
}
