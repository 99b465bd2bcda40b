import { describe, expect, it } from 'vitest';
import { bundle, install, reportFacts } from './findings-fixture.js';
import { PatternRunner } from './pattern-runner.js';
import { reportScope } from './report-scope.js';
import { WARNING_SCAN_MAX, warningFindings } from './warnings.js';

describe('warningFindings', () => {
  it('groups PostgreSQL warnings of the migrate step per host, with the first line quoted', () => {
    const facts = reportFacts({
      installs: [
        install('db-1', 'qa', [
          { step: 'install', stdout: 'added 12 packages\n' },
          {
            step: 'migrate',
            stdout:
              'CREATE TABLE\nWARNING:  relation "orders_id_seq" already exists, skipping\n' +
              'psql:0002.sql:4: NOTICE:  column "x" exists\n',
          },
        ]),
        install('db-2', 'qa', [{ step: 'migrate', stderr: 'fine\n' }]),
      ],
    });
    const findings = warningFindings(reportScope(facts));
    expect(findings).toHaveLength(1);
    const [finding] = findings;
    expect(finding).toMatchObject({
      key: 'warnings/cart/qa/postgres',
      kind: 'warnings',
      suggestedImpact: 'minor',
      env: 'qa',
      app: 'cart',
      data: { pattern: 'postgres', steps: ['migrate'] },
      confirmedBy: null,
    });
    expect(finding!.title).toBe("PostgreSQL warnings in cart's output in qa: 2 lines on 1 host");
    expect(finding!.entries).toEqual([
      {
        host: 'db-1',
        text: '2 lines in migrate (2)',
        quote: 'WARNING:  relation "orders_id_seq" already exists, skipping',
        count: 2,
      },
    ]);
  });

  it('counts each line once, by its most specific pattern', () => {
    const facts = reportFacts({
      installs: [
        install('web-1', 'qa', [
          {
            step: 'install',
            stderr: [
              'npm WARN deprecated inflight@1.0.6: This module is not supported',
              '(node:4242) [DEP0040] DeprecationWarning: The `punycode` module is deprecated.',
              '(node:4242) ExperimentalWarning: VM Modules is an experimental feature',
              '/srv/app/x.py:3: DeprecationWarning: datetime.utcnow() is deprecated',
              'this API is deprecated',
              'warning: something odd',
              'Warnings: 0',
              'no problem here; forewarned is forearmed',
            ].join('\n'),
          },
        ]),
      ],
    });
    const counts = Object.fromEntries(
      warningFindings(reportScope(facts)).map((f) => [f.data.pattern, f.entries[0]!.count]),
    );
    expect(counts).toEqual({ npm: 1, node: 2, python: 1, deprecated: 1, generic: 2 });
  });

  it("uses the manifest's own patterns first, keyed by a hash of the pattern", () => {
    const facts = reportFacts({
      bundles: [bundle('cart', 12, { report: { warnings: ['^SLOW QUERY', '[bad'] } })],
      installs: [
        install('web-1', 'qa', [
          { step: 'health', stdout: 'SLOW QUERY warning: 2s\nSLOW QUERY again\n' },
        ]),
      ],
    });
    const [finding, ...rest] = warningFindings(reportScope(facts));
    expect(rest).toEqual([]);
    expect(finding!.key).toMatch(/^warnings\/cart\/qa\/manifest-[0-9a-f]{8}$/);
    expect(finding!.entries[0]).toMatchObject({ count: 2, quote: 'SLOW QUERY warning: 2s' });
    expect(finding!.title).toContain('/^SLOW QUERY/');
  });

  it('judges a host by its last install of a bundle, and keys findings per environment', () => {
    const facts = reportFacts({
      installs: [
        install('web-1', 'qa', [{ step: 'install', stderr: 'npm WARN old\n' }]),
        install('web-1', 'qa', [{ step: 'install', stderr: 'clean\n' }]),
        install('web-9', 'prod', [{ step: 'install', stderr: 'npm WARN prod\n' }]),
      ],
    });
    expect(warningFindings(reportScope(facts)).map((f) => f.key)).toEqual([
      'warnings/cart/prod/npm',
    ]);
  });

  it('reads lines ending in CR LF, quoting them without the CR, and skips blank ones', () => {
    const facts = reportFacts({
      bundles: [bundle('cart', 12, { report: { warnings: ['^$', '^\\s*$'] } })],
      installs: [
        install('web-1', 'qa', [
          { step: 'hooks', stdout: 'ok\r\n\r\nWARNING: disk\r\n\nWarning: later\r\n' },
        ]),
      ],
    });
    const findings = warningFindings(reportScope(facts));
    expect(findings.map((f) => [f.data.pattern, f.entries[0]!.quote])).toEqual([
      ['postgres', 'WARNING: disk'],
      ['python', 'Warning: later'],
    ]);
  });

  it('cuts a quoted line to 500 characters and reads only the first MB of an output', () => {
    const long = `WARNING: ${'x'.repeat(1000)}`;
    const facts = reportFacts({
      installs: [
        install('web-1', 'qa', [
          {
            step: 'migrate',
            stdout: `${long}\n${'.'.repeat(WARNING_SCAN_MAX)}\nWARNING: past the bound\n`,
          },
        ]),
      ],
    });
    const [finding] = warningFindings(reportScope(facts));
    expect(finding!.entries[0]!.quote).toBe(long.slice(0, 500));
    expect(finding!.entries[0]!.count).toBe(1);
  });

  it('stops a manifest pattern that backtracks, keeping what it matched, and says so', () => {
    // `^(\w+\s?)+:` takes seconds on a line of 40 word characters without a colon, and
    // doubles with every two more: searched over the whole output, this test would hang.
    const facts = reportFacts({
      bundles: [bundle('cart', 12, { report: { warnings: ['^(\\w+\\s?)+:'] } })],
      installs: [
        install('web-1', 'qa', [
          { step: 'migrate', stdout: `ERROR: boom\n${'word '.repeat(400)}!\nnpm WARN late\n` },
        ]),
      ],
    });
    const findings = warningFindings(reportScope(facts));
    expect(findings.map((f) => f.data.pattern)).toEqual([
      expect.stringMatching(/^manifest-/),
      'npm',
    ]);
    const [own] = findings;
    expect(own!.entries).toEqual([
      { host: 'web-1', text: '1 line in migrate (1)', quote: 'ERROR: boom', count: 1 },
    ]);
    expect(own!.data).toMatchObject({ stopped: true });
    expect(own!.title).toContain('stopped');
  }, 5_000);

  it('gives the manifest patterns one time for the whole report, and says when it was spent', () => {
    // Each pattern runs under its time on every install (a fake clock says 40 ms of the
    // 50 ms each call is given): only the report's 1000 ms over all installs stop it.
    let clock = 0;
    const runner = new PatternRunner({
      budgetMs: 50,
      msPerMiB: 0,
      reportMs: 1000,
      now: () => (clock += 40),
    });
    const hosts = Array.from({ length: 30 }, (_, i) => `web-${String(i + 1).padStart(2, '0')}`);
    const facts = reportFacts({
      bundles: [bundle('cart', 12, { report: { warnings: ['^SLOW QUERY', 'retrying in \\d+s'] } })],
      installs: hosts.map((h) =>
        install(h, 'qa', [{ step: 'hooks', stdout: 'SLOW QUERY 2s\nretrying in 5s\n' }]),
      ),
    });
    const findings = warningFindings(reportScope(facts), runner);
    expect(findings).toHaveLength(2);
    expect(runner.spentMs).toBeGreaterThanOrEqual(1000);
    for (const finding of findings) {
      expect(finding.data).toMatchObject({ stopped: true, stoppedFor: 'report-time' });
      expect(finding.title).toContain(
        'the 1000 ms the report gives all manifest patterns were spent, and later lines were not tested',
      );
      expect(finding.entries.length).toBeGreaterThan(0);
      expect(finding.entries.length).toBeLessThan(hosts.length);
    }
  });
});
