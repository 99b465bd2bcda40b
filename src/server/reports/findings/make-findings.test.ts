import { describe, expect, it } from 'vitest';
import type { NoteRecord } from '../../../protocol/note-api.js';
import { findingSchema } from '../../../protocol/report-api.js';
import { requiresCheckLine } from '../../../protocol/requires-check.js';
import { bundle, host, install, reportFacts } from './findings-fixture.js';
import { makeFindings } from './make-findings.js';

/** A release like the seed's: warnings in prod and qa, a host on another node, a merged log, a requirement short. */
function seedFacts(notes: NoteRecord[] = []) {
  const requires = (name: string, found: string, ok: boolean) =>
    requiresCheckLine({
      host: name,
      path: '/usr/bin',
      checks: [{ kind: 'runtime', name: 'node', needed: '>=20 <23', found, ok }],
    });
  return reportFacts({
    bundles: [bundle('cart', 12, { service: { command: 'node server.js' } })],
    hosts: [
      host('web-1', 'qa', { runtimes: { node: '20.11.1' }, apps: { cart: { current: 12 } } }),
      host('web-2', 'qa', {
        runtimes: { node: '18.19.0' },
        apps: { cart: { current: 12, service: { running: true, mergedOutput: true } } },
      }),
      host('web-9', 'prod', { runtimes: { node: '20.11.1' }, apps: { cart: { current: 12 } } }),
    ],
    installs: [
      install('web-9', 'prod', [{ step: 'migrate', stdout: 'WARNING: sequence exists\n' }]),
      install('web-1', 'qa', [
        { step: 'requires', stdout: requires('web-1', '20.11.1', true) },
        { step: 'migrate', stdout: 'WARNING: sequence exists\n' },
      ]),
      install('web-2', 'qa', [{ step: 'requires', stdout: requires('web-2', '18.19.0', false) }], {
        state: 'failed',
      }),
    ],
    notes,
  });
}

describe('makeFindings', () => {
  it('makes every kind, ordered by kind then environment, each valid against the report schema', () => {
    const findings = makeFindings(seedFacts());
    expect(findings.map((f) => f.key)).toEqual([
      'warnings/cart/qa/postgres',
      'warnings/cart/prod/postgres',
      'drift/qa/runtime/node',
      'requirements/cart/qa/node',
      'log-hygiene/cart/qa/merged-output',
    ]);
    for (const finding of findings) expect(findingSchema.parse(finding)).toEqual(finding);
    // The same facts, the same findings.
    expect(makeFindings(seedFacts())).toEqual(findings);
  });

  it("marks a finding confirmed by the newest note that names it, with that note's impact", () => {
    const note = (
      id: number,
      finding: string | null,
      impact: NoteRecord['impact'],
    ): NoteRecord => ({
      id,
      on: { kind: 'label', label: '0.4.0' },
      section: 'deployment',
      impact,
      text: 'seen',
      fixedBy: null,
      finding,
      createdAt: '2024-05-01T12:00:00.000Z',
      createdBy: 'alice',
      updatedAt: '2024-05-01T12:00:00.000Z',
      updatedBy: 'alice',
      actions: [],
    });
    const findings = makeFindings(
      seedFacts([
        note(7, 'drift/qa/runtime/node', 'minor'),
        note(3, 'drift/qa/runtime/node', 'blocker'),
        note(4, null, 'major'),
        note(5, 'warnings/gone/qa/npm', 'nil'),
      ]),
    );
    const confirmed = findings.filter((f) => f.confirmedBy !== null);
    expect(confirmed.map((f) => [f.key, f.confirmedBy])).toEqual([
      ['drift/qa/runtime/node', { noteId: 7, impact: 'minor' }],
    ]);
  });
});
