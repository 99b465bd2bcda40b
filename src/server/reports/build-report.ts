import { NOTE_SECTIONS } from '../../protocol/note-api.js';
import {
  type Finding,
  type Report,
  type ReportBundle,
  REPORT_VERSION,
} from '../../protocol/report-api.js';
import { reportEnvironments } from './report-environments.js';
import type { ReportFacts } from './report-facts.js';
import { reportSummary } from './report-summary.js';

/**
 * The release report, from its facts and Ferry's findings: a pure function,
 * so that every section is tested on plain data and the report says the same
 * whichever replica builds it. The renderers (terminal, Markdown, HTML) read
 * only this.
 *
 * @example
 *   const facts = await gatherReportFacts(store, { kind: 'label', label: '0.4.0' }, environments);
 *   const report = buildReport(facts, makeFindings(facts));
 *   report.summary.headline; // 'smooth: nothing blocked, 2 open actions'
 */
export function buildReport(facts: ReportFacts, findings: Finding[]): Report {
  return {
    reportVersion: REPORT_VERSION,
    subject: facts.subject,
    generatedAt: facts.gatheredAt,
    bundles: facts.bundles.map((bundle): ReportBundle => {
      const changes = facts.verdicts.filter(
        (v) => v.app === bundle.app && v.version === bundle.version,
      );
      const latest = changes[changes.length - 1];
      return {
        app: bundle.app,
        version: bundle.version,
        label: bundle.label,
        commit: bundle.commit,
        sha256: bundle.sha256,
        sizeBytes: bundle.size,
        pushedBy: bundle.pushedBy,
        pushedAt: bundle.pushedAt,
        verdict: latest
          ? { state: latest.verdict, by: latest.by, at: latest.at, note: latest.note }
          : { state: 'pending', by: null, at: null, note: null },
      };
    }),
    summary: reportSummary(facts, findings.length),
    environments: reportEnvironments(facts),
    findings,
    notes: NOTE_SECTIONS.map((section) => ({
      section,
      notes: facts.notes.filter((n) => n.section === section),
    })),
  };
}
