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
      'drift/qa/runtime/cart/node',
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
        note(7, 'drift/qa/runtime/cart/node', 'minor'),
        note(3, 'drift/qa/runtime/cart/node', 'blocker'),
        note(4, null, 'major'),
        note(5, 'warnings/gone/qa/npm', 'nil'),
      ]),
    );
    const confirmed = findings.filter((f) => f.confirmedBy !== null);
    expect(confirmed.map((f) => [f.key, f.confirmedBy])).toEqual([
      ['drift/qa/runtime/cart/node', { noteId: 7, impact: 'minor' }],
    ]);
  });

  it('gives every finding of a rich release a key of its own', () => {
    const requires = (name: string, needed: string, found: string, ok: boolean) =>
      requiresCheckLine({
        host: name,
        path: '/usr/bin',
        checks: [{ kind: 'runtime', name: 'python', needed, found, ok }],
      });
    const running = (current: number) => ({
      current,
      service: { running: true, pid: 1, uptimeSeconds: 600, stdoutBytes: 0, mergedOutput: true },
    });
    const names = ['w-1', 'w-2', 'w-3', 'w-4'];
    const facts = reportFacts({
      // Two versions of each app under one label, two apps on one role, a host in two roles.
      bundles: [
        bundle('cart', 12, { service: { command: 'gunicorn app' } }),
        bundle('cart', 13, { service: { command: 'gunicorn app' } }),
        bundle('shop', 4, { role: 'cart', service: { command: 'python3 -m shop' } }),
        bundle('shop', 5, { role: 'cart', service: { command: 'python3 -m shop' } }),
        bundle('mq', 2, { service: { command: 'celery -A mq worker' } }),
      ],
      hosts: ['qa', 'prod'].flatMap((env) =>
        names.map((n, i) =>
          host(`${env}-${n}`, env, {
            roles: i === 0 ? ['cart', 'mq'] : i === 3 ? ['mq'] : ['cart'],
            runtimes: { python3: `3.${9 + i}.0`, node: `${18 + i}.0.0` },
            os: `Debian ${11 + (i % 2)}`,
            apps: { cart: running(12 + (i % 2)), shop: running(4 + (i % 2)), mq: running(2) },
          }),
        ),
      ),
      desired: ['qa', 'prod'].flatMap((env) => [
        { env, app: 'cart', version: 13 },
        { env, app: 'shop', version: 5 },
      ]),
      installs: ['qa', 'prod'].flatMap((env) =>
        ['cart', 'shop', 'mq'].flatMap((app) =>
          [...(app === 'mq' ? [2] : app === 'cart' ? [12, 13] : [4, 5])].flatMap((version) =>
            names.map((n, i) =>
              install(
                `${env}-${n}`,
                env,
                [
                  {
                    step: 'requires',
                    stdout: requires(
                      `${env}-${n}`,
                      `>=3.${8 + (version % 2)} <3.13`,
                      `3.${9 + i}.0`,
                      i > 0,
                    ),
                  },
                  {
                    step: 'install',
                    durationMs: i === 2 ? 60_000 : 1000,
                    stdout: 'npm WARN old\n',
                  },
                  { step: 'migrate', stdout: 'WARNING: sequence exists\nDeprecationWarning: x\n' },
                  { step: 'health', stdout: `${i + 1} attempts in ${i * 1000} ms\n` },
                ],
                { app, version },
              ),
            ),
          ),
        ),
      ),
    });
    const findings = makeFindings(facts);
    const kinds = new Set(findings.map((f) => f.kind));
    expect([...kinds].sort()).toEqual(
      ['drift', 'flaky', 'log-hygiene', 'requirements', 'slow', 'warnings'].sort(),
    );
    const keys = findings.map((f) => f.key);
    expect(keys.filter((k, i) => keys.indexOf(k) !== i)).toEqual([]);
  });
});
