import type { BundleDetail } from '../../protocol/api.js';
import type { DeploymentRecord } from '../../protocol/deployment-api.js';
import { hasLanded, isActiveDeployment } from '../../protocol/lifecycle.js';
import type { NoteRecord } from '../../protocol/note-api.js';
import type { EnvironmentTally, PathStop, ReportSummary } from '../../protocol/report-api.js';
import { roleOf, targetHosts } from '../deployments/rollout-plan.js';
import { between } from './report-environments.js';
import type { ReportFacts } from './report-facts.js';

/**
 * The report's summary: each bundle's path through the environments with its
 * lead time, per environment how its hosts did, what blocked the release, and
 * one headline in words.
 */
export function reportSummary(facts: ReportFacts, findings: number): ReportSummary {
  const tallies = environmentTallies(facts);
  const blockers = releaseBlockers(facts);
  const openNotes = facts.notes.filter(isOpenNote).length;
  const openActions = facts.notes.flatMap((n) => n.actions).filter((a) => !a.done).length;
  return {
    headline: headline(facts, { tallies, blockers, openActions, findings }),
    paths: facts.bundles.map((bundle) => ({
      app: bundle.app,
      version: bundle.version,
      stops: pathOf(facts, bundle),
      leadTimeMs: leadTime(facts, bundle),
    })),
    tallies,
    blockers,
    openNotes,
    openActions,
    findings,
  };
}

/**
 * A note is open while one of its actions is not done, or, without actions,
 * until a bundle is named as its fix or its impact is `nil`.
 */
export function isOpenNote(note: NoteRecord): boolean {
  if (note.actions.length > 0) return note.actions.some((a) => !a.done);
  return note.fixedBy === null && note.impact !== 'nil';
}

const ofBundle = (bundle: Pick<BundleDetail, 'app' | 'version'>) => (d: DeploymentRecord) =>
  d.app === bundle.app && d.version === bundle.version;

/** Pushed, each deployment (when it ended, or began for one still going), each verdict, each rollback away: in time order. */
function pathOf(facts: ReportFacts, bundle: BundleDetail): PathStop[] {
  const stops: PathStop[] = [
    { kind: 'pushed', env: null, outcome: null, at: bundle.pushedAt, by: bundle.pushedBy },
  ];
  for (const d of facts.deployments) {
    if (ofBundle(bundle)(d)) {
      stops.push({
        kind: 'deployed',
        env: d.env,
        outcome: d.state,
        at: d.finishedAt ?? d.createdAt,
        by: d.createdBy,
      });
    } else if (d.app === bundle.app && d.kind === 'rollback' && d.fromVersion === bundle.version) {
      stops.push({
        kind: 'rolled-back',
        env: d.env,
        outcome: `${d.state}: to ${d.version}`,
        at: d.finishedAt ?? d.createdAt,
        by: d.createdBy,
      });
    }
  }
  for (const v of facts.verdicts) {
    if (v.app !== bundle.app || v.version !== bundle.version) continue;
    stops.push({ kind: 'verdict', env: null, outcome: v.verdict, at: v.at, by: v.by });
  }
  return stops.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
}

/** From push to the end of the bundle's first deployment that landed in the last environment. */
function leadTime(facts: ReportFacts, bundle: BundleDetail): number | null {
  const last = facts.environments[facts.environments.length - 1]?.name;
  const landed = facts.deployments
    .filter((d) => ofBundle(bundle)(d) && d.env === last && hasLanded(d.state))
    .map((d) => d.finishedAt)
    .filter((at): at is string => at !== null)
    .sort()[0];
  return landed === undefined ? null : between(bundle.pushedAt, landed);
}

/**
 * Per environment and bundle that went there (a deployment or an install of
 * it), counted by host over one set of hosts: the environment's hosts now
 * (not removed, not revoked) that the bundle targets (its role) or that took
 * an install of it — `hosts` is their number and every other count is of
 * them, so a tally never says "hosts 2, installed 3". Of those, `installed`
 * took it at least once; `failed` failed it at their latest install of it (a
 * retry that went well is no failure); `rolledBack` went back from it (its
 * agent switched back, or a revert or rollback put it on another release);
 * `away` were skipped and never took it; `runningNow` run it by their latest
 * facts. A host may count in several.
 */
function environmentTallies(facts: ReportFacts): EnvironmentTally[] {
  const tallies: EnvironmentTally[] = [];
  for (const env of facts.environments.map((e) => e.name)) {
    const envHosts = facts.hosts.filter((h) => h.env === env && h.revokedAt === null);
    for (const bundle of facts.bundles) {
      const installs = facts.installs
        .filter((i) => i.env === env && i.install.app === bundle.app)
        .map((i) => i.install);
      const own = installs.filter((i) => i.version === bundle.version);
      const deployments = facts.deployments.filter((d) => d.env === env && ofBundle(bundle)(d));
      if (own.length === 0 && deployments.length === 0) continue;
      const tookIt = new Set(own.map((i) => i.hostId));
      const targets = new Set(targetHosts(envHosts, env, roleOf(bundle)).map((h) => h.id));
      const counted = envHosts.filter((h) => targets.has(h.id) || tookIt.has(h.id));
      const ids = new Set(counted.map((h) => h.id));
      const hostsWith = (keep: (i: (typeof installs)[number]) => boolean, from = own) =>
        new Set(from.filter((i) => ids.has(i.hostId) && keep(i)).map((i) => i.hostId));
      const installed = hostsWith((i) => i.state === 'succeeded');
      const away = hostsWith((i) => i.state === 'skipped');
      for (const id of installed) away.delete(id);
      // Each host's latest attempt at the bundle (installs are oldest first) says whether it failed.
      const latest = new Map<string, (typeof installs)[number]>();
      for (const i of own)
        if (i.state === 'succeeded' || i.state === 'failed') latest.set(i.hostId, i);
      const failed = hostsWith((i) => latest.get(i.hostId) === i && i.state === 'failed');
      // Put back from this bundle: by the agent itself, by a revert of its
      // deployment, or by a later rollback to another release.
      const wentBack = hostsWith(
        (i) =>
          (i.version === bundle.version && i.rolledBack) ||
          (i.version !== bundle.version &&
            i.fromVersion === bundle.version &&
            (i.purpose === 'revert' ||
              facts.deployments.some((d) => d.id === i.deploymentId && d.kind === 'rollback')) &&
            i.state === 'succeeded'),
        installs,
      );
      tallies.push({
        env,
        app: bundle.app,
        version: bundle.version,
        hosts: counted.length,
        installed: installed.size,
        failed: failed.size,
        rolledBack: wentBack.size,
        away: away.size,
        runningNow: counted.filter((h) => h.facts?.apps[bundle.app]?.current === bundle.version)
          .length,
      });
    }
  }
  return tallies;
}

/**
 * What blocked the release, in words: a deployment that failed or was rolled
 * back (and did not land in that environment after), a bundle marked failed,
 * an open note of impact `blocker`.
 */
function releaseBlockers(facts: ReportFacts): string[] {
  const blockers: string[] = [];
  for (const bundle of facts.bundles) {
    const ref = `${bundle.app}@${bundle.version}`;
    const mine = facts.deployments.filter(ofBundle(bundle));
    for (const env of [...new Set(mine.map((d) => d.env))]) {
      const inEnv = mine.filter((d) => d.env === env);
      const latest = inEnv[inEnv.length - 1]!;
      if (latest.state !== 'failed' && latest.state !== 'rolled_back') continue;
      const how = latest.state === 'failed' ? 'failed' : 'was rolled back';
      blockers.push(`${ref} ${how} in ${env}${latest.error ? `: ${latest.error}` : ''}`);
    }
    const verdict = facts.verdicts.filter(
      (v) => v.app === bundle.app && v.version === bundle.version,
    );
    const now = verdict[verdict.length - 1];
    if (now?.verdict === 'failed') {
      blockers.push(`${ref} was marked failed by ${now.by}${now.note ? `: ${now.note}` : ''}`);
    }
  }
  for (const note of facts.notes) {
    if (note.impact === 'blocker' && isOpenNote(note)) {
      blockers.push(`note ${note.id} (blocker, ${note.section}): ${oneLine(note.text)}`);
    }
  }
  return blockers;
}

/** One line in words: blocked, in progress, waiting, done with trouble, or smooth; and what is open. */
function headline(
  facts: ReportFacts,
  counts: {
    tallies: EnvironmentTally[];
    blockers: string[];
    openActions: number;
    findings: number;
  },
): string {
  const { tallies, blockers, openActions, findings } = counts;
  const extras = [
    openActions > 0 ? plural(openActions, 'open action') : null,
    findings > 0 ? plural(findings, 'finding') : null,
  ].filter((x): x is string => x !== null);
  const tail = extras.length > 0 ? `, ${extras.join(', ')}` : '';
  if (blockers.length > 0) {
    const more = blockers.length > 1 ? ` (and ${blockers.length - 1} more)` : '';
    return `blocked: ${oneLine(blockers[0]!)}${more}${tail}`;
  }
  const active = facts.deployments.filter((d) => isActiveDeployment(d.state));
  if (active.length > 0) {
    const going = active.map((d) => `${d.app}@${d.version} to ${d.env}`).join(', ');
    return `in progress: ${going} under way${tail}`;
  }
  const trouble = [
    ['failed', sum(tallies, 'failed')],
    ['rolled back', sum(tallies, 'rolledBack')],
    ['away', sum(tallies, 'away')],
  ] as const;
  const troubled = trouble.filter(([, n]) => n > 0);
  if (troubled.length > 0) {
    const words = troubled.map(([what, n]) => `${plural(n, 'host')} ${what}`).join(', ');
    return `done with trouble: ${words}; nothing blocked${tail}`;
  }
  const last = facts.environments[facts.environments.length - 1]?.name;
  const waiting = facts.bundles.filter(
    (b) => !facts.deployments.some((d) => ofBundle(b)(d) && d.env === last && hasLanded(d.state)),
  );
  if (last !== undefined && waiting.length > 0) {
    const refs = waiting.map((b) => `${b.app}@${b.version}`).join(', ');
    return `waiting: ${refs} not in ${last} yet; nothing blocked${tail}`;
  }
  return `smooth: nothing blocked${tail}`;
}

function sum(tallies: EnvironmentTally[], key: 'failed' | 'rolledBack' | 'away'): number {
  return tallies.reduce((total, t) => total + t[key], 0);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** A text on one line, cut to a length a headline can carry. */
function oneLine(text: string, max = 200): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
