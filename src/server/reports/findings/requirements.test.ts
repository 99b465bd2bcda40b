import { describe, expect, it } from 'vitest';
import { type RequirementCheck, requiresCheckLine } from '../../../protocol/requires-check.js';
import { install, reportFacts } from './findings-fixture.js';
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
