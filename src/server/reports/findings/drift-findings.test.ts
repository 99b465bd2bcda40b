import { describe, expect, it } from 'vitest';
import { requiresCheckLine } from '../../../protocol/requires-check.js';
import { driftFindings } from './drift-findings.js';
import { host, install, reportFacts } from './findings-fixture.js';
import { reportScope } from './report-scope.js';

describe('driftFindings', () => {
  it("finds drift now among the hosts that run the release's bundles, saying which are away", () => {
    const facts = reportFacts({
      hosts: [
        host('web-1', 'qa', { runtimes: { node: '20.11.1' }, apps: { cart: { current: 12 } } }),
        host('web-2', 'qa', { runtimes: { node: '20.11.1' }, apps: { cart: { current: 12 } } }),
        host(
          'web-3',
          'qa',
          { runtimes: { node: '18.19.0' }, apps: { cart: { current: 12 } } },
          { connected: false },
        ),
        // Runs another release of cart now: that is `ferry drift`'s business, not this report's.
        host('web-4', 'qa', { runtimes: { node: '16.0.0' }, apps: { cart: { current: 15 } } }),
        // Not the release's role: not compared.
        host('db-1', 'qa', { roles: ['db'], runtimes: { node: '16.0.0' } }),
        // An environment the release did not go to.
        host('web-9', 'prod', { runtimes: { node: '16.0.0' }, apps: { cart: { current: 12 } } }),
        host('web-8', 'prod', { runtimes: { node: '22.0.0' }, apps: { cart: { current: 12 } } }),
      ],
      desired: [{ env: 'qa', app: 'cart', version: 15 }],
      installs: [install('web-1', 'qa', [{ step: 'install' }])],
    });
    const findings = driftFindings(reportScope(facts));
    expect(findings.map((f) => [f.key, f.suggestedImpact])).toEqual([
      ['drift/qa/runtime/cart/node', 'minor'],
      ['drift/qa/release/cart', 'major'],
    ]);
    expect(findings[0]!.title).toBe(
      'node differs now between hosts of role cart in qa: 20.11.1 on web-1, web-2; 18.19.0 on web-3',
    );
    expect(findings[0]!.entries).toContainEqual({
      host: 'web-3',
      text: 'node 18.19.0 (away: its last facts)',
      quote: null,
      count: null,
    });
    expect(findings[1]!.title).toMatch(/desired release 15 now: /);
    expect(findings[1]!.entries.map((e) => e.text)).toEqual([
      'runs cart@12, desired 15',
      'runs cart@12, desired 15',
      'runs cart@12, desired 15 (away: its last facts)',
    ]);
  });

  it('finds nothing for a release no host runs now, whatever runs instead', () => {
    const facts = reportFacts({
      hosts: [
        host('web-1', 'qa', { runtimes: { node: '20.11.1' }, apps: { cart: { current: 15 } } }),
        host('web-2', 'qa', { runtimes: { node: '18.19.0' }, apps: { cart: { current: 14 } } }),
      ],
      desired: [{ env: 'qa', app: 'cart', version: 15 }],
      installs: [install('web-1', 'qa', [{ step: 'install' }])],
    });
    expect(driftFindings(reportScope(facts))).toEqual([]);
  });

  it('reads runtimes a requires step found where the facts know none', () => {
    const check = (hostName: string, found: string) =>
      requiresCheckLine({
        host: hostName,
        path: '/usr/bin',
        checks: [{ kind: 'runtime', name: 'node', needed: '>=18', found, ok: true }],
      });
    const facts = reportFacts({
      hosts: ['web-1', 'web-2'].map((n) => host(n, 'qa', { apps: { cart: { current: 12 } } })),
      installs: [
        install('web-1', 'qa', [{ step: 'requires', stdout: check('web-1', '20.1.0') }]),
        install('web-2', 'qa', [{ step: 'requires', stdout: check('web-2', '18.2.0') }]),
      ],
    });
    expect(driftFindings(reportScope(facts)).map((f) => f.key)).toEqual([
      'drift/qa/runtime/cart/node',
    ]);
  });
});
