import { describe, expect, it } from 'vitest';
import { bundle, install, reportFacts } from './findings-fixture.js';
import { flakyFindings } from './flaky.js';
import { reportScope } from './report-scope.js';
import { slowFindings } from './slow.js';

describe('slowFindings', () => {
  it('flags a host whose step took more than 3× the median and 5 s more', () => {
    const facts = reportFacts({
      installs: [
        install('web-1', 'qa', [
          { step: 'install', durationMs: 2000 },
          { step: 'fetch', durationMs: 100 },
        ]),
        install('web-2', 'qa', [
          { step: 'install', durationMs: 2500 },
          { step: 'fetch', durationMs: 100 },
        ]),
        install('web-3', 'qa', [
          { step: 'install', durationMs: 30_000 },
          { step: 'fetch', durationMs: 900 },
        ]),
        install('web-4', 'qa', [
          { step: 'install', durationMs: 2200 },
          { step: 'fetch', durationMs: 100 },
        ]),
      ],
    });
    const findings = slowFindings(reportScope(facts));
    // fetch on web-3 is 9× the median, but less than 5 s more: not worth a finding.
    expect(findings.map((f) => f.key)).toEqual(['slow/cart/qa/install']);
    expect(findings[0]!.entries).toEqual([
      {
        host: 'web-3',
        text: 'install took 30.0 s, 12.8× the median of 4 hosts',
        quote: null,
        count: null,
      },
    ]);
    expect(findings[0]!.data).toMatchObject({ step: 'install', medianMs: 2350, versions: [12] });
  });

  it('compares nothing with fewer than three hosts', () => {
    const facts = reportFacts({
      installs: [
        install('web-1', 'qa', [{ step: 'install', durationMs: 1000 }]),
        install('web-2', 'qa', [{ step: 'install', durationMs: 60_000 }]),
      ],
    });
    expect(slowFindings(reportScope(facts))).toEqual([]);
  });
});

describe('flakyFindings', () => {
  it('flags a health check that passed only after several attempts, quoting its line', () => {
    const facts = reportFacts({
      installs: [
        install('web-1', 'qa', [{ step: 'health', stdout: '1 attempts in 12 ms\n' }]),
        install('web-2', 'qa', [{ step: 'health', stdout: '7 attempts in 6021 ms\n' }]),
        // Failed after many attempts: that is a failed install, not a flaky check.
        install('web-3', 'qa', [
          { step: 'health', state: 'failed', stdout: '30 attempts in 30000 ms\n' },
        ]),
      ],
    });
    const findings = flakyFindings(reportScope(facts));
    expect(findings).toEqual([
      {
        key: 'flaky/cart/qa/health',
        kind: 'flaky',
        title: "cart's health check passed only after several attempts on web-2 in qa",
        suggestedImpact: 'minor',
        env: 'qa',
        app: 'cart',
        entries: [
          {
            host: 'web-2',
            text: 'passed at attempt 7, after 6021 ms (cart@12)',
            quote: '7 attempts in 6021 ms',
            count: 7,
          },
        ],
        data: { step: 'health', attempts: { 'web-2': 7 } },
        confirmedBy: null,
      },
    ]);
  });
});

describe('flakyFindings with two versions of an app', () => {
  it('judges a host by its newest install, whatever the order they were stored in', () => {
    const at = (entry: ReturnType<typeof install>, createdAt: string) => ({
      ...entry,
      install: { ...entry.install, createdAt },
    });
    const facts = reportFacts({
      bundles: [bundle('cart', 12), bundle('cart', 13)],
      installs: [
        at(
          install('web-1', 'qa', [{ step: 'health', stdout: '5 attempts in 4000 ms\n' }], {
            version: 13,
          }),
          '2024-05-02T10:00:00.000Z',
        ),
        at(
          install('web-1', 'qa', [{ step: 'health', stdout: '3 attempts in 2000 ms\n' }]),
          '2024-05-01T10:00:00.000Z',
        ),
      ],
    });
    const [finding] = flakyFindings(reportScope(facts));
    expect(finding!.entries).toEqual([
      expect.objectContaining({
        host: 'web-1',
        count: 5,
        text: expect.stringContaining('cart@13'),
      }),
    ]);
  });
});

describe('slowFindings with two versions of an app', () => {
  it('gives one finding per app, environment and step, each host judged by its last install', () => {
    const facts = reportFacts({
      bundles: [bundle('cart', 12), bundle('cart', 13)],
      installs: [
        ...['web-1', 'web-2', 'web-3', 'web-4'].map((h) =>
          install(h, 'qa', [{ step: 'install', durationMs: h === 'web-4' ? 40_000 : 2000 }]),
        ),
        ...['web-1', 'web-2', 'web-3', 'web-4'].map((h) =>
          install(h, 'qa', [{ step: 'install', durationMs: h === 'web-3' ? 50_000 : 2000 }], {
            version: 13,
          }),
        ),
        // A revert to a version the release does not hold: not the release's step.
        install('web-1', 'qa', [{ step: 'install', durationMs: 90_000 }], { version: 11 }),
      ],
    });
    const findings = slowFindings(reportScope(facts));
    expect(findings.map((f) => f.key)).toEqual(['slow/cart/qa/install']);
    expect(findings[0]!.entries.map((e) => e.host)).toEqual(['web-3']);
    expect(findings[0]!.data).toMatchObject({ versions: [13] });
    expect(findings[0]!.title).toMatch(/^cart@13's install step was slow on web-3 in qa/);
  });
});
