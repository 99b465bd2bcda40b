/**
 * Version ranges as the manifest's `requires` writes them, in npm's range
 * syntax (node-semver's grammar, without prereleases): `>=20 <23`, `^20.11`,
 * `~3.11.2`, `3.11.x`, `3.11`, `1.2 - 2.3`, `18 || >=20`. Written here rather
 * than taken from a package because the subset is small and must read the
 * versions runtimes print, which are not all semver: Python's `3.13.0rc1`, pip's
 * `24.0`. A version is compared by its first three numbers; what follows them
 * (`rc1`, `-beta`) is ignored.
 */

/** A version's three numbers, the missing ones 0. */
export type VersionNumbers = readonly [number, number, number];

/** One bound of a range: `>= 20.0.0`, `< 23.0.0`. */
export interface VersionBound {
  op: '>=' | '>' | '<=' | '<';
  version: VersionNumbers;
}

/**
 * A parsed range: any of `sets` matches; a set matches when every bound of it
 * does (an empty set matches every version).
 */
export interface VersionRange {
  text: string;
  sets: VersionBound[][];
}

const WILDCARD = /^[xX*]$/;
/** A number, or a wildcard (`x`, `X`, `*`). */
const PART = '(?:0|[1-9]\\d{0,8}|[xX*])';
/** A partial version: `20`, `3.11`, `3.11.x`, `v20.11.1`. */
const PARTIAL = new RegExp(`^v?(${PART})(?:\\.(${PART})(?:\\.(${PART}))?)?$`);
/** A comparator: an operator, then a partial version (spaces between allowed, as npm does). */
const COMPARATOR = /^(>=|<=|>|<|=|\^|~>?)?\s*(\S+)$/;

/** Limits the length of a range, as the manifest keeps it with every bundle. */
export const VERSION_RANGE_MAX = 200;

/**
 * Reads a range; null when it is not one (the manifest schema turns that into
 * an error naming the key).
 *
 * @example
 *   parseVersionRange('>=20 <23');  // { text, sets: [[{op:'>=',version:[20,0,0]}, {op:'<',version:[23,0,0]}]] }
 *   parseVersionRange('3.11.x');    // >=3.11.0 <3.12.0
 *   parseVersionRange('>=banana');  // null
 */
export function parseVersionRange(text: string): VersionRange | null {
  if (text.length > VERSION_RANGE_MAX) return null;
  const sets: VersionBound[][] = [];
  for (const alternative of text.split('||')) {
    const set = parseSet(alternative.trim());
    if (set === null) return null;
    sets.push(set);
  }
  return { text, sets };
}

/**
 * The numbers of a version as a runtime prints it (`20.11.1`, `v18.19.0`,
 * `3.13.0rc1`, `24.0`); null when it does not begin with a number.
 */
export function parseVersion(text: string): VersionNumbers | null {
  const match = /^v?(\d{1,9})(?:\.(\d{1,9}))?(?:\.(\d{1,9}))?/.exec(text.trim());
  if (!match) return null;
  return [Number(match[1]), Number(match[2] ?? 0), Number(match[3] ?? 0)];
}

/**
 * True when `version` is in `range`; false for a version that cannot be read.
 *
 * @example
 *   satisfies('18.19.0', parseVersionRange('>=20 <23')!); // false
 */
export function satisfies(version: string, range: VersionRange): boolean {
  const numbers = parseVersion(version);
  if (numbers === null) return false;
  return range.sets.some((set) => set.every((bound) => holds(numbers, bound)));
}

/** -1, 0 or 1 as `a` is before, equal to or after `b`. */
export function compareVersions(a: VersionNumbers, b: VersionNumbers): number {
  for (let i = 0; i < 3; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

function holds(version: VersionNumbers, bound: VersionBound): boolean {
  const c = compareVersions(version, bound.version);
  switch (bound.op) {
    case '>=':
      return c >= 0;
    case '>':
      return c > 0;
    case '<=':
      return c <= 0;
    case '<':
      return c < 0;
  }
}

/** One alternative: a hyphen range, or comparators separated by spaces. */
function parseSet(text: string): VersionBound[] | null {
  const hyphen = /^(\S+)\s+-\s+(\S+)$/.exec(text);
  if (hyphen) {
    const low = partial(hyphen[1]!);
    const high = partial(hyphen[2]!);
    if (!low || !high) return null;
    return [...bounds('>=', low), ...bounds('<=', high)];
  }
  if (text === '') return [];
  // `>= 20` is one comparator: join an operator to the version after it.
  const words = text.replace(/(>=|<=|>|<|=|\^|~>?)\s+/g, '$1').split(/\s+/);
  const set: VersionBound[] = [];
  for (const word of words) {
    const match = COMPARATOR.exec(word);
    const version = match ? partial(match[2]!) : null;
    if (!match || !version) return null;
    set.push(...bounds(match[1] ?? '=', version));
  }
  return set;
}

/** A partial version: its numbers, up to the first wildcard or missing part. */
function partial(text: string): number[] | null {
  const match = PARTIAL.exec(text);
  if (!match) return null;
  const parts = match.slice(1, 4).filter((p): p is string => p !== undefined);
  const wild = parts.findIndex((p) => WILDCARD.test(p));
  if (wild === -1) return parts.map(Number);
  // `1.x.3` has no meaning: only wildcards after the first one.
  if (parts.slice(wild).some((p) => !WILDCARD.test(p))) return null;
  return parts.slice(0, wild).map(Number);
}

/** `numbers` with zeros for the missing parts. */
function full(numbers: number[]): VersionNumbers {
  return [numbers[0] ?? 0, numbers[1] ?? 0, numbers[2] ?? 0];
}

/** The first version after every version that `numbers` (a partial one) stands for: `3.11` → `3.12.0`. */
function after(numbers: number[]): VersionNumbers {
  const bumped = [...numbers];
  bumped[bumped.length - 1]! += 1;
  return full(bumped);
}

/** The bounds one comparator stands for, as node-semver reads it. */
function bounds(op: string, numbers: number[]): VersionBound[] {
  const any: VersionBound[] = [];
  if (numbers.length === 0) {
    // `*`, `x`, `>=*`: every version; `<*` and `>*`: none.
    return op === '<' || op === '>' ? [{ op: '<', version: [0, 0, 0] }] : any;
  }
  const exact = numbers.length === 3;
  switch (op) {
    case '=':
      return exact
        ? [
            { op: '>=', version: full(numbers) },
            { op: '<=', version: full(numbers) },
          ]
        : [
            { op: '>=', version: full(numbers) },
            { op: '<', version: after(numbers) },
          ];
    case '>=':
      return [{ op: '>=', version: full(numbers) }];
    case '>':
      return exact
        ? [{ op: '>', version: full(numbers) }]
        : [{ op: '>=', version: after(numbers) }];
    case '<':
      return [{ op: '<', version: full(numbers) }];
    case '<=':
      return exact
        ? [{ op: '<=', version: full(numbers) }]
        : [{ op: '<', version: after(numbers) }];
    case '~':
    case '~>':
      // Patch changes only when the minor is given, else minor changes.
      return [
        { op: '>=', version: full(numbers) },
        { op: '<', version: after(numbers.slice(0, Math.min(2, numbers.length))) },
      ];
    case '^': {
      // Changes that leave the first non-zero number given alone.
      const first = numbers.findIndex((n) => n !== 0);
      const keep = first === -1 ? numbers.length : first + 1;
      return [
        { op: '>=', version: full(numbers) },
        { op: '<', version: after(numbers.slice(0, keep)) },
      ];
    }
    default:
      return any;
  }
}
