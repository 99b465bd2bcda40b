import { FINDING_KINDS, type Finding } from '../../../protocol/report-api.js';
import type { NoteRecord } from '../../../protocol/note-api.js';
import type { ReportFacts } from '../report-facts.js';
import { driftFindings } from './drift-findings.js';
import { flakyFindings } from './flaky.js';
import { logHygieneFindings } from './log-hygiene.js';
import { reportScope } from './report-scope.js';
import { requirementFindings } from './requirements.js';
import { slowFindings } from './slow.js';
import { warningFindings } from './warnings.js';

/**
 * The problems Ferry finds by itself in a release's records and its hosts'
 * facts: warnings in step output, drift between hosts, requirements not met
 * or near their limit, log hygiene, slow steps and flaky health checks. Pure:
 * the same facts give the same findings, in the same order (by kind, then
 * environment in lifecycle order, app and key), each with a key that stays
 * the same from one report to the next. A finding a note names
 * (`ferry note add --finding KEY`) is confirmed by it, with the note's impact
 * (the newest such note, when several).
 *
 * @example
 *   const findings = makeFindings(await gatherReportFacts(store, subject));
 *   findings.map((f, i) => `${i + 1}. [${f.suggestedImpact}] ${f.title}`);
 */
export function makeFindings(facts: ReportFacts): Finding[] {
  const scope = reportScope(facts);
  const findings = [
    ...warningFindings(scope),
    ...driftFindings(scope),
    ...requirementFindings(scope),
    ...logHygieneFindings(scope),
    ...slowFindings(scope),
    ...flakyFindings(scope),
  ];
  const kind = new Map<string, number>(FINDING_KINDS.map((k, i) => [k, i]));
  const env = new Map(facts.environments.map((e, i) => [e.name, i]));
  const envOrder = (name: string | null) =>
    name === null ? -1 : (env.get(name) ?? facts.environments.length);
  findings.sort(
    (a, b) =>
      kind.get(a.kind)! - kind.get(b.kind)! ||
      envOrder(a.env) - envOrder(b.env) ||
      (a.app ?? '').localeCompare(b.app ?? '') ||
      a.key.localeCompare(b.key),
  );
  const confirmations = confirmationsOf(facts.notes);
  return findings.map((f) => ({ ...f, confirmedBy: confirmations.get(f.key) ?? null }));
}

/** Per finding key, the newest note that names it. */
function confirmationsOf(
  notes: readonly NoteRecord[],
): Map<string, NonNullable<Finding['confirmedBy']>> {
  const byKey = new Map<string, NonNullable<Finding['confirmedBy']>>();
  for (const note of [...notes].sort((a, b) => a.id - b.id)) {
    if (note.finding) byKey.set(note.finding, { noteId: note.id, impact: note.impact });
  }
  return byKey;
}
