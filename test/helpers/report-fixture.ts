import { readFileSync } from 'node:fs';
import { type Report, reportSchema } from '../../src/protocol/report-api.js';

/**
 * The fixture release report (test/fixtures/report-0.4.0.json): label 0.4.0
 * with three apps (back, front, mq) through qa and prod; mq@7 failed on
 * prod-mq-2 and was rolled back; findings of PostgreSQL warnings, node drift,
 * merged logs (confirmed by note #2) and npm warnings; four notes, one with
 * two actions. Hostile text on purpose: `<script>alert(1)</script>`, lines
 * with ``` backticks, ANSI colours in step output. Parsed with the report's
 * schema, so it stays true to the contract.
 */
export function reportFixture(): Report {
  const path = new URL('../fixtures/report-0.4.0.json', import.meta.url);
  return reportSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
}

/** A report of one bundle with nothing in it yet: no deployments, findings or notes. */
export function emptyReport(): Report {
  return reportSchema.parse({
    reportVersion: 1,
    subject: { kind: 'bundle', app: 'cart', version: 12 },
    generatedAt: '2025-03-04T14:05:00.000Z',
    bundles: [],
    summary: {
      headline: 'nothing deployed yet',
      paths: [],
      tallies: [],
      blockers: [],
      openNotes: 0,
      openActions: 0,
      findings: 0,
    },
    environments: [],
    findings: [],
    notes: [],
  });
}
