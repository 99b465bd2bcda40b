import { describe, expect, it } from 'vitest';
import { parseVersion, parseVersionRange, satisfies } from './version-range.js';

/** True when `version` is in `range` (which must parse). */
function inRange(version: string, range: string): boolean {
  const parsed = parseVersionRange(range);
  expect(parsed, range).not.toBeNull();
  return satisfies(version, parsed!);
}

describe('version ranges', () => {
  it.each([
    // range, inside, outside
    ['>=20 <23', ['20.0.0', '20.11.1', '22.99.1'], ['18.19.0', '19.9.9', '23.0.0', '24.1.0']],
    ['>= 20 < 23', ['20.0.0', '22.1.0'], ['23.0.0', '19.0.0']],
    ['3.11.x', ['3.11.0', '3.11.2', '3.11.9'], ['3.10.12', '3.12.0', '2.7.18']],
    ['3.11', ['3.11.0', '3.11.2'], ['3.12.0', '3.1.1']],
    ['3.x', ['3.0.0', '3.13.1'], ['2.7.18', '4.0.0']],
    ['20', ['20.0.0', '20.19.2'], ['21.0.0', '19.9.0']],
    ['=20.11.1', ['20.11.1'], ['20.11.2', '20.11.0']],
    ['20.11.1', ['v20.11.1'], ['20.11.2']],
    ['^20.11', ['20.11.0', '20.99.0'], ['20.10.9', '21.0.0']],
    ['^0.2.3', ['0.2.3', '0.2.9'], ['0.3.0', '0.2.2']],
    ['^0.0.3', ['0.0.3'], ['0.0.4']],
    ['~3.11.2', ['3.11.2', '3.11.9'], ['3.11.1', '3.12.0']],
    ['~3', ['3.0.0', '3.99.0'], ['4.0.0']],
    // As npm reads it: greater than every 20.x.
    ['>20', ['21.0.0'], ['20.0.0', '20.9.9']],
    ['>20.1.2', ['20.1.3'], ['20.1.2']],
    ['>20.1', ['20.2.0'], ['20.1.9']],
    ['<=20.1', ['20.1.9'], ['20.2.0']],
    ['1.2 - 2.3', ['1.2.0', '2.3.9'], ['1.1.9', '2.4.0']],
    ['1.2.3 - 2.3.4', ['2.3.4'], ['2.3.5', '1.2.2']],
    ['18 || >=20', ['18.1.0', '20.0.0', '30.0.0'], ['19.0.0', '17.9.9']],
    ['*', ['0.0.1', '99.0.0'], []],
  ] as const)('%s holds what it should', (range, inside, outside) => {
    for (const version of inside) expect(inRange(version, range), version).toBe(true);
    for (const version of outside) expect(inRange(version, range), version).toBe(false);
  });

  it('reads the versions runtimes print, which are not all semver', () => {
    expect(parseVersion('v18.19.0')).toEqual([18, 19, 0]);
    expect(parseVersion('3.13.0rc1')).toEqual([3, 13, 0]);
    expect(parseVersion('24.0')).toEqual([24, 0, 0]);
    expect(parseVersion('Python 3.11.2')).toBeNull();
    expect(inRange('3.13.0rc1', '>=3.13')).toBe(true);
    expect(inRange('24.0', '>=23.1 <25')).toBe(true);
    expect(inRange('not a version', '*')).toBe(false);
  });

  it.each([
    '>=banana',
    '20..1',
    '1.x.3',
    '>=20 <',
    '=>20',
    'latest',
    '>=20 && <23',
    'x'.repeat(201),
  ])('refuses %s', (range) => {
    expect(parseVersionRange(range)).toBeNull();
  });
});
