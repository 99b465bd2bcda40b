import type { ActionRecord, NoteRecord, NoteSection } from '../protocol/note-api.js';
import { describeSubject } from '../protocol/note-api.js';
import type {
  EnvironmentTally,
  Finding,
  FindingEntry,
  PathStop,
  Report,
  ReportBundle,
  ReportDeployment,
  ReportInstall,
  ReportStep,
  ReportSummary,
} from '../protocol/report-api.js';
import { formatDuration, formatTime, oneLine, plural, shortCommit } from './report-text.js';

/**
 * The sentences of a release report, in plain text, shared by its three
 * renderings so that the terminal, Markdown and HTML say the same thing in
 * the same words. Each renderer escapes them for its own medium; none of
 * these returns markup. They expect a report already cleaned (`cleanReport`).
 */

/** A time in a phrase: printed in full (`at` before it when `word`), or shown relative on a page. */
export interface PhraseTime {
  readonly at: string | null;
  /** The word the full text puts before the time (`by carol at 10:06 UTC`); a page drops it. */
  readonly word?: 'at';
}

/**
 * A sentence with its times kept apart, for renderings that show a time their
 * own way: the dashboard relative ("3 minutes ago", exact on hover), the
 * terminal and Markdown in full (`phraseText`). The words are the same.
 */
export type Phrase = ReadonlyArray<string | PhraseTime>;

/** A phrase as plain text, each time in full: `by carol at 2025-03-04 10:06 UTC`. */
export function phraseText(phrase: Phrase): string {
  return phrase
    .map((part) =>
      typeof part === 'string' ? part : `${part.word ? `${part.word} ` : ''}${formatTime(part.at)}`,
    )
    .join('');
}

/** `Release report: label 0.4.0`, `Release report: cart@12`. */
export function reportTitle(report: Report): string {
  return `Release report: ${oneLine(describeSubject(report.subject))}`;
}

/** Each section of notes with its heading and what it says when empty, in the report's order. */
export const NOTE_SECTION_WORDS: Record<NoteSection, { title: string; empty: string }> = {
  deployment: { title: 'Deployment issues', empty: 'No deployment issues.' },
  patch: { title: 'Patches', empty: 'No patches.' },
  testing: { title: 'Testing issues', empty: 'No testing issues.' },
  misc: { title: 'Miscellaneous', empty: 'Nothing else noted.' },
};

/** `back@12`. */
export function bundleName(app: string, version: number): string {
  return `${oneLine(app)}@${version}`;
}

/** What is known of a bundle besides its name, each part on its own. */
export function bundleFacts(bundle: ReportBundle): string[] {
  const verdict = bundle.verdict;
  const judged =
    verdict.state === 'pending'
      ? 'verdict pending'
      : `verdict ${verdict.state}${verdict.by === null ? '' : ` by ${oneLine(verdict.by)}`}` +
        (verdict.at === null ? '' : ` at ${formatTime(verdict.at)}`) +
        (verdict.note === null || verdict.note === '' ? '' : `: "${oneLine(verdict.note)}"`);
  return [
    bundle.label === null ? 'no label' : `label ${oneLine(bundle.label)}`,
    bundle.commit === null ? 'no commit' : `commit ${shortCommit(oneLine(bundle.commit))}`,
    `pushed by ${oneLine(bundle.pushedBy)} at ${formatTime(bundle.pushedAt)}`,
    judged,
  ];
}

/** One stop of a bundle's path: `qa: succeeded 2025-03-04 10:06 UTC`. */
export function describeStop(stop: PathStop): string {
  return phraseText(stopPhrase(stop));
}

/** `describeStop`, its time apart. */
export function stopPhrase(stop: PathStop): Phrase {
  const by = stop.by === null ? '' : ` by ${oneLine(stop.by)}`;
  const outcome = stop.outcome === null ? '' : ` ${oneLine(stop.outcome).replace(/_/g, ' ')}`;
  const where = stop.env === null ? '' : ` ${oneLine(stop.env)}`;
  const at = { at: stop.at };
  switch (stop.kind) {
    case 'pushed':
      return ['pushed ', at, by];
    case 'deployed':
      return [`${where.trim() || 'deployed'}:${outcome} `, at, by];
    case 'verdict':
      return [`verdict${outcome} `, at, by];
    case 'rolled-back':
      return [`rolled back in${where} `, at, by];
  }
}

/** The lead time of a path in words. */
export function describeLeadTime(leadTimeMs: number | null): string {
  return leadTimeMs === null
    ? 'lead time: not in the last environment yet'
    : `lead time ${formatDuration(leadTimeMs)}`;
}

/** A tally's numbers, each with its word: `2 of 3 hosts installed`, `1 failed`, …. */
export function tallyParts(tally: EnvironmentTally): string[] {
  return [
    `${tally.installed} of ${plural(tally.hosts, 'host')} installed`,
    `${tally.failed} failed`,
    `${tally.rolledBack} rolled back`,
    `${tally.away} away`,
    `${tally.runningNow} running now`,
  ];
}

/** `4 findings, 2 open notes, 2 open actions`. */
export function summaryCounts(summary: ReportSummary): string {
  return [
    plural(summary.findings, 'finding'),
    plural(summary.openNotes, 'open note'),
    plural(summary.openActions, 'open action'),
  ].join(', ');
}

/** A finding's impact: `suggested: major`, or `confirmed: minor (note #2)`. */
export function findingImpact(finding: Finding): string {
  return finding.confirmedBy === null
    ? `suggested: ${finding.suggestedImpact}`
    : `confirmed: ${finding.confirmedBy.impact} (note #${finding.confirmedBy.noteId})`;
}

/** The impact a finding has now: the confirmed one, else the suggested one. */
export function currentImpact(finding: Finding): string {
  return finding.confirmedBy?.impact ?? finding.suggestedImpact;
}

/** Where a finding was made: `qa, back`; `all environments` when it names none. */
export function findingPlace(finding: Finding): string {
  const parts = [finding.env, finding.app].filter((p): p is string => p !== null).map(oneLine);
  return parts.length === 0 ? 'the whole release' : parts.join(', ');
}

/** One host's part of a finding, without its quote: `qa-app-1: 3 lines match … (seen 3 times)`. */
export function describeEntry(entry: FindingEntry): string {
  const host = entry.host === null ? '' : `${oneLine(entry.host)}: `;
  const count = entry.count === null ? '' : ` (seen ${plural(entry.count, 'time')})`;
  return `${host}${oneLine(entry.text)}${count}`;
}

/** A word as a POSIX shell reads it back: bare when plain, else in single quotes. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9@%+=:,./_-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The command that confirms a finding as a note (the person may change the impact). */
export function confirmCommand(report: Report, finding: Finding): string {
  const on =
    report.subject.kind === 'label'
      ? `--label ${shellWord(report.subject.label)}`
      : `${report.subject.app}@${report.subject.version}`;
  return `ferry note add ${on} --finding ${shellWord(finding.key)} --impact ${currentImpact(finding)}`;
}

/** Who wrote a note and when, what it is on, and what fixed it. */
export function noteFacts(note: NoteRecord): string[] {
  return noteFactPhrases(note).map(phraseText);
}

/** `noteFacts`, their times apart. */
export function noteFactPhrases(note: NoteRecord): Phrase[] {
  const facts: Phrase[] = [
    [`note #${note.id} on ${oneLine(describeSubject(note.on))}`],
    [`by ${oneLine(note.createdBy)} `, { at: note.createdAt, word: 'at' }],
  ];
  if (note.updatedAt !== note.createdAt)
    facts.push([`edited by ${oneLine(note.updatedBy)} `, { at: note.updatedAt, word: 'at' }]);
  if (note.fixedBy !== null)
    facts.push([`fixed by ${bundleName(note.fixedBy.app, note.fixedBy.version)}`]);
  return facts;
}

/** `open` or `done`. */
export function actionState(action: ActionRecord): 'open' | 'done' {
  return action.done ? 'done' : 'open';
}

/** After an action's text: its id, and who did it when. */
export function actionFacts(action: ActionRecord): string {
  return phraseText(actionPhrase(action));
}

/** `actionFacts`, its time apart. */
export function actionPhrase(action: ActionRecord): Phrase {
  const added = `action #${action.id}, added by ${oneLine(action.createdBy)}`;
  if (!action.done || action.doneAt === null) return [added];
  return [
    `${added}, done by ${oneLine(action.doneBy ?? 'someone')} `,
    { at: action.doneAt, word: 'at' },
  ];
}

/** A deployment in one line: `promote back@12 by carol at …: succeeded in 6 min`. */
export function describeDeployment(deployment: ReportDeployment): string {
  return phraseText(deploymentPhrase(deployment));
}

/** `describeDeployment`, its time apart. */
export function deploymentPhrase(deployment: ReportDeployment): Phrase {
  const took =
    deployment.finishedAt === null
      ? ''
      : ` in ${formatDuration(Date.parse(deployment.finishedAt) - Date.parse(deployment.createdAt))}`;
  const migrated =
    deployment.migratedOn === null ? '' : `; migrations ran on ${oneLine(deployment.migratedOn)}`;
  return [
    `${deployment.kind} ${bundleName(deployment.app, deployment.version)} by ` +
      `${oneLine(deployment.createdBy)} `,
    { at: deployment.createdAt, word: 'at' },
    `: ${deployment.state.replace(/_/g, ' ')}${took}${migrated}`,
  ];
}

/** An install in one line: `deploy mq@7 (from 6): failed, rolled back, 3.1 s, started …`. */
export function describeInstall(install: ReportInstall): string {
  return phraseText(installPhrase(install));
}

/** `describeInstall`, its time apart. */
export function installPhrase(install: ReportInstall): Phrase {
  const from = install.fromVersion === null ? '' : ` (from ${install.fromVersion})`;
  const parts = [
    install.state,
    ...(install.rolledBack ? ['rolled back'] : []),
    formatDuration(install.durationMs),
  ];
  return [
    `${install.purpose} ${bundleName(install.app, install.version)}${from}: ${parts.join(', ')}, started `,
    { at: install.startedAt ?? install.createdAt },
  ];
}

/** A step's outcome: `succeeded`, `failed (exit 1)`, `running`. */
export function stepOutcome(step: ReportStep): string {
  return step.exitCode === null || step.state === 'succeeded'
    ? step.state
    : `${step.state} (exit ${step.exitCode})`;
}

/** Where an install failed: `step start, exit code 1: the service exited …`. */
export function describeFailure(failure: NonNullable<ReportInstall['failure']>): string {
  const parts = [
    failure.step === null ? 'before any step' : `step ${oneLine(failure.step)}`,
    ...(failure.exitCode === null ? [] : [`exit code ${failure.exitCode}`]),
  ];
  return `failed at ${parts.join(', ')}${failure.error === null ? '' : `: ${oneLine(failure.error)}`}`;
}
