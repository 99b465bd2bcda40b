import type { Report } from '../../protocol/report-api.js';

/** How a report is written to a file of one extension. */
export type ReportFileFormats = Readonly<Record<string, (report: Report) => string>>;

/**
 * The files the server writes of a bundle's report, by extension: the JSON
 * always (what every rendering is made of); Markdown (`md`) and HTML (`html`)
 * with the renderers of src/report/ (`renderMarkdown`, `renderHtml`), once
 * they are in this build.
 */
export const REPORT_FILE_FORMATS: ReportFileFormats = {
  json: (report) => `${JSON.stringify(report, null, 2)}\n`,
};
