import type { ReportService } from '../reports/report-service.js';
import { routePlugin } from './route-plugin.js';

/** `GET /report`: the release report of a bundle or a label, as JSON (the CLI renders it). */
export function reportRoutes(reports: ReportService) {
  return routePlugin('reports', {
    report: ({ query }) => reports.report(query),
  });
}
