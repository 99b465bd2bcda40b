import { jsonText } from '../../protocol/fields.js';
import type { Report } from '../../protocol/report-api.js';
import { renderHtml } from '../../report/render-html.js';
import { renderMarkdown } from '../../report/render-markdown.js';

/** How a report is written to a file of one extension. */
export type ReportFileFormats = Readonly<Record<string, (report: Report) => string>>;

/**
 * The files the server writes of a bundle's report, by extension: Markdown
 * (for a wiki or an e-mail), one self-contained HTML page, and the JSON both
 * are made of (for tools).
 */
export const REPORT_FILE_FORMATS: ReportFileFormats = {
  md: renderMarkdown,
  html: renderHtml,
  json: (report) => `${jsonText(report)}\n`,
};
