import { describe, expect, it } from 'vitest';
import { type RequirementCheck, requiresCheckLine } from '../../../protocol/requires-check.js';
import { bundle, install, reportFacts } from './findings-fixture.js';
import { reportScope } from './report-scope.js';
import { nearEdge, requirementFindings } from './requirements.js';

const runtime = (needed: string, found: string | null, ok: boolean): RequirementCheck => ({
  kind: 'runtime',
  name: 'node',
  needed,
  found,
  ok,
});

const requires = (hostName: string, checks: RequirementCheck[]) =>
  install(hostName, 'qa', [
    {
      step: 'requires',
      stdout: `node ok\n${requiresCheckLine({ host: hostName, path: '/usr/bin', checks })}`,
    },
  ]);

const line = (hostName: string, needed: string, found: string, ok: boolean) =>
  requiresCheckLine({ host: hostName, path: '/usr/bin', checks: [runtime(needed, found, ok)] });

describe('requirementFindings', () => {
  it('lists hosts that do not meet a requirement, with what they have and what is needed', () => {
    const facts = reportFacts({
      installs: [
        requires('web-1', [runtime('>=20 <23', '20.11.1', true)]),
        requires('web-2', [
          runtime('>=20 <23', '18.19.0', false),
          { kind: 'command', name: 'psql', needed: 'on PATH', found: null, ok: false },
        ]),
        requires('web-3', [runtime('>=20 <23', null, false)]),
      ],
    });
    const findings = requirementFindings(reportScope(facts));
    expect(findings.map((f) => [f.key, f.suggestedImpact])).toEqual([
      ['requirements/cart/qa/node', 'major'],
      ['requirements/cart/qa/psql', 'major'],
    ]);
    expect(findings[0]!.title).toBe("2 hosts in qa do not meet cart's requirement node >=20 <23");
    expect(findings[0]!.entries.map((e) => [e.host, e.text])).toEqual([
      ['web-2', 'has node 18.19.0, needs >=20 <23'],
      ['web-3', 'has no node, needs >=20 <23'],
    ]);
    expect(findings[0]!.data).toEqual({
      name: 'node',
      kind: 'runtime',
      needed: '>=20 <23',
      found: { 'web-2': '18.19.0', 'web-3': null },
    });
    expect(findings[1]!.entries[0]!.text).toBe('command psql is not on the PATH');
  });

  it('lists hosts near the limit, and judges a host by its last check', () => {
    const facts = reportFacts({
      installs: [
        requires('web-1', [runtime('>=20 <23', '18.0.0', false)]),
        requires('web-1', [runtime('>=20 <23', '22.3.0', true)]),
        requires('web-2', [runtime('>=20 <23', '21.0.0', true)]),
      ],
    });
    const findings = requirementFindings(reportScope(facts));
    expect(findings.map((f) => [f.key, f.suggestedImpact])).toEqual([
      ['requirements/cart/qa/node/edge', 'nil'],
    ]);
    expect(findings[0]!.entries.map((e) => e.text)).toEqual([
      'has 22.3.0, needs >=20 <23: the next major (23) leaves the range',
    ]);
  });
});

describe('requirementFindings with two versions of an app', () => {
  it('says the range each host was held to, judging a host by its last check of any version', () => {
    const facts = reportFacts({
      bundles: [bundle('cart', 12), bundle('cart', 13)],
      installs: [
        requires('web-1', [runtime('>=18', '16.0.0', false)]),
        requires('web-2', [runtime('>=18', '18.0.0', true)]),
        // web-2 took cart@13 after, which needs more.
        install(
          'web-2',
          'qa',
          [{ step: 'requires', stdout: line('web-2', '>=20', '18.0.0', false) }],
          {
            version: 13,
          },
        ),
      ],
    });
    const findings = requirementFindings(reportScope(facts));
    expect(findings.map((f) => f.key)).toEqual(['requirements/cart/qa/node']);
    expect(findings[0]!.title).toBe(
      "2 hosts in qa do not meet cart's requirement node >=18 or >=20",
    );
    expect(findings[0]!.entries.map((e) => e.text)).toEqual([
      'has node 16.0.0, needs >=18',
      'has node 18.0.0, needs >=20',
    ]);
  });
});

describe('nearEdge', () => {
  it('flags the last major of a range of several, and the exact minimum', () => {
    expect(nearEdge(runtime('>=20 <23', '22.11.0', true))).toBe(
      'the next major (23) leaves the range',
    );
    expect(nearEdge(runtime('>=20 <23', '20.0.0', true))).toBe('the minimum exactly');
    expect(nearEdge(runtime('>=20 <23', '21.5.0', true))).toBeNull();
    expect(nearEdge(runtime('18 || >=20 <22', '21.1.0', true))).toBe(
      'the next major (22) leaves the range',
    );
  });

  it('flags the last minor of a range whose upper bound is on the minor', () => {
    const python = (needed: string, found: string): RequirementCheck => ({
      ...runtime(needed, found, true),
      name: 'python',
    });
    expect(nearEdge(python('>=3.8 <3.13', '3.12.4'))).toBe(
      'the next minor (3.13) leaves the range',
    );
    expect(nearEdge(python('>=3.8 <3.13', '3.11.2'))).toBeNull();
    expect(nearEdge(python('>=3.8 <3.13', '3.8.0'))).toBe('the minimum exactly');
    expect(nearEdge(python('~3.11', '3.11.4'))).toBeNull();
  });

  it('says nothing of a range of one major, a failed check or a command', () => {
    expect(nearEdge(runtime('^20.11', '20.12.0', true))).toBeNull();
    expect(nearEdge(runtime('3.11.x', '3.11.4', true))).toBeNull();
    expect(nearEdge(runtime('>=20 <23', '18.0.0', false))).toBeNull();
    expect(
      nearEdge({
        kind: 'command',
        name: 'psql',
        needed: 'on PATH',
        found: '/usr/bin/psql',
        ok: true,
      }),
    ).toBeNull();
  });
});
