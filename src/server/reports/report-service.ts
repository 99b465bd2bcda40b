import type { Report, ReportQuery } from '../../protocol/report-api.js';
import type { NoteSubject } from '../../protocol/note-api.js';
import type { Store } from '../../store/store.js';
import type { EnvironmentConfig } from '../environment-config.js';
import { buildReport } from './build-report.js';
import { makeFindings } from './findings/make-findings.js';
import { gatherReportFacts } from './gather-report-facts.js';

/**
 * The release report: gathered from the records at the moment of asking, so
 * that it always reflects the latest installs, facts and notes.
 *
 * @example
 *   const reports = new ReportService(store, config.environments);
 *   const report = await reports.report({ label: '0.4.0' });
 */
export class ReportService {
  constructor(
    private readonly store: Store,
    private readonly environments: readonly EnvironmentConfig[],
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The report of one bundle or a label; `E_BUNDLE_NOT_FOUND` / `E_LABEL_NOT_FOUND` when there is none. */
  report(query: ReportQuery): Promise<Report> {
    return this.reportOf(subjectOf(query));
  }

  /** The report of a subject, as notes name it. */
  async reportOf(subject: NoteSubject): Promise<Report> {
    const facts = await gatherReportFacts(this.store, subject, this.environments, this.now);
    return buildReport(facts, makeFindings(facts));
  }
}

/** The query of `GET /report` as the subject of a report. */
export function subjectOf(query: ReportQuery): NoteSubject {
  return 'label' in query
    ? { kind: 'label', label: query.label }
    : { kind: 'bundle', app: query.app, version: query.version };
}
