import { createHash } from 'node:crypto';
import { MANIFEST_LINE_MAX } from './pattern-runner.js';

/**
 * The patterns that make a line of step output a warning. A line counts once,
 * for the first pattern in this order that matches it: the manifest's own
 * patterns (`report.warnings`) first, then the most specific defaults, the
 * generic `warn`/`warning` last.
 */
export interface WarningPattern {
  /** Part of the finding's key: stays the same from one report to the next. */
  id: string;
  /** In words, for the finding's title: `PostgreSQL warnings`. */
  label: string;
  matches(line: string): boolean;
  /**
   * A manifest's pattern: any regular expression a deployer wrote, run only
   * line by line under a time budget (`PatternRunner`), never over a whole output.
   */
  manifest?: RegExp;
}

const test = (re: RegExp) => (line: string) => re.test(line);

/** Node's process warnings: `(node:123) [DEP0005] DeprecationWarning: …`, `ExperimentalWarning: …`. */
const NODE_WARNING = /\((?:node|npm):\d+\)|\[DEP\d+\]|\bExperimentalWarning\b/;

/** The default patterns, most specific first. */
export const DEFAULT_WARNING_PATTERNS: readonly WarningPattern[] = [
  { id: 'npm', label: 'npm warnings', matches: test(/\bnpm (?:WARN|warn)\b/) },
  {
    id: 'node',
    label: 'Node warnings',
    matches: (line) =>
      /\b(?:DeprecationWarning|ExperimentalWarning)\b/.test(line) && NODE_WARNING.test(line),
  },
  // `app.py:3: DeprecationWarning: …`, `UserWarning: …`: a Python warning class, then a colon.
  { id: 'python', label: 'Python warnings', matches: test(/\b(?:[A-Z]\w*)?Warning:/) },
  // `WARNING:  relation "x" already exists`, `psql:0001.sql:4: NOTICE:  …`.
  {
    id: 'postgres',
    label: 'PostgreSQL warnings',
    matches: test(/(?:^|[\s:])(?:WARNING|NOTICE):\s/),
  },
  { id: 'deprecated', label: 'deprecations', matches: test(/\bdeprecated\b/i) },
  { id: 'generic', label: 'warnings', matches: test(/\bwarn(?:ing)?s?\b/i) },
];

/**
 * The patterns of a manifest's `report.warnings`, each keyed by a hash of its
 * text (its place in the list may change, the problem it finds does not). A
 * pattern that does not compile (an older bundle, before the schema checked
 * it) is left out.
 */
export function manifestWarningPatterns(sources: readonly unknown[]): WarningPattern[] {
  const patterns: WarningPattern[] = [];
  for (const source of sources) {
    if (typeof source !== 'string') continue;
    let re: RegExp;
    try {
      re = new RegExp(source);
    } catch {
      continue;
    }
    const id = `manifest-${createHash('sha256').update(source).digest('hex').slice(0, 8)}`;
    if (patterns.some((p) => p.id === id)) continue;
    patterns.push({
      id,
      label: `lines matching /${source}/`,
      matches: (line) => re.test(line.slice(0, MANIFEST_LINE_MAX)),
      manifest: re,
    });
  }
  return patterns;
}

/** The first pattern that `line` matches, or undefined. */
export function matchWarning(
  line: string,
  patterns: readonly WarningPattern[],
): WarningPattern | undefined {
  return patterns.find((p) => p.matches(line));
}
