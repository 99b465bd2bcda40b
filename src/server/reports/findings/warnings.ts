import type { Finding, FindingEntry } from '../../../protocol/report-api.js';
import {
  bundleOf,
  groupBy,
  latestInstalls,
  manifestValue,
  plural,
  type ReportScope,
} from './report-scope.js';
import {
  DEFAULT_WARNING_PATTERNS,
  manifestWarningPatterns,
  matchWarning,
  type WarningPattern,
} from './warning-patterns.js';

/**
 * Of each step's stdout and stderr, only this much is read: a step's output
 * can be megabytes, and a report of many hosts must stay quick. Warnings come
 * early (npm prints them first), and the count says "at least" past it.
 */
export const WARNING_SCAN_MAX = 1024 * 1024;
/** A quoted line is cut to this many characters. */
export const QUOTE_MAX = 500;

interface Seen {
  host: string;
  count: number;
  quote: string;
  steps: Map<string, number>;
}

/**
 * Warnings in step output: for each app and environment, the lines of any
 * step of the release's installs (install commands, migrate, hooks, health,
 * the service's first output) that match a warning pattern, counted per host
 * with the first one quoted. One finding per pattern:
 * `warnings/<app>/<env>/<pattern-id>`.
 */
export function warningFindings(scope: ReportScope): Finding[] {
  const findings: Finding[] = [];
  const byAppEnv = groupBy(latestInstalls(scope.facts), (i) => `${i.install.app}\0${i.env}`);
  for (const [appEnv, installs] of byAppEnv) {
    const [app, env] = appEnv.split('\0') as [string, string];
    // pattern id → host → what was seen there
    const seen = new Map<string, Map<string, Seen>>();
    const patternsById = new Map<string, WarningPattern>();
    // A bundle's patterns are compiled once, however many hosts installed it.
    const compiled = new Map<number, WarningPattern[]>();
    for (const entry of installs) {
      const { version } = entry.install;
      const patterns = compiled.get(version) ?? patternsFor(scope, app, version);
      compiled.set(version, patterns);
      for (const p of patterns) patternsById.set(p.id, p);
      for (const log of entry.logs) {
        for (const output of [log.stdout, log.stderr]) {
          scanOutput(output, patterns, (pattern, line) => {
            const hosts = seen.get(pattern.id) ?? new Map<string, Seen>();
            seen.set(pattern.id, hosts);
            const host = entry.install.host;
            const at = hosts.get(host) ?? { host, count: 0, quote: line, steps: new Map() };
            hosts.set(host, at);
            at.count++;
            at.steps.set(log.step, (at.steps.get(log.step) ?? 0) + 1);
          });
        }
      }
    }
    for (const [id, hosts] of seen) {
      const pattern = patternsById.get(id)!;
      const entries: FindingEntry[] = [...hosts.values()]
        .sort((a, b) => a.host.localeCompare(b.host))
        .map((s) => ({
          host: s.host,
          text: `${plural(s.count, 'line')} in ${[...s.steps].map(([step, n]) => `${step} (${n})`).join(', ')}`,
          quote: s.quote,
          count: s.count,
        }));
      const steps = [...new Set([...hosts.values()].flatMap((s) => [...s.steps.keys()]))];
      const total = entries.reduce((n, e) => n + (e.count ?? 0), 0);
      findings.push({
        key: `warnings/${app}/${env}/${id}`,
        kind: 'warnings',
        title: `${capitalize(pattern.label)} in ${app}'s output in ${env}: ${plural(total, 'line')} on ${plural(entries.length, 'host')}`,
        suggestedImpact: 'minor',
        env,
        app,
        entries,
        data: { pattern: id, label: pattern.label, steps },
        confirmedBy: null,
      });
    }
  }
  return findings.sort((a, b) => a.key.localeCompare(b.key));
}

/** The manifest's own patterns for the bundle installed, then the defaults. */
function patternsFor(scope: ReportScope, app: string, version: number): WarningPattern[] {
  const own = manifestValue(bundleOf(scope.facts, app, version), 'report', 'warnings');
  return [...manifestWarningPatterns(Array.isArray(own) ? own : []), ...DEFAULT_WARNING_PATTERNS];
}

/**
 * Every line a default pattern can match holds one of these words (in any
 * case): an output is searched for them in one pass of the regular
 * expression engine, and only their lines are tested against the defaults.
 */
const CANDIDATE_WORDS = /warn|notice|deprecat/gi;

/**
 * Calls `found` for each line of the first `WARNING_SCAN_MAX` characters of
 * `output` that is a warning, with the first pattern it matches. The lines to
 * test are found by searching the whole output (each manifest pattern in
 * turn, then the words every default pattern needs), so a long output of
 * plain lines costs a few passes of the regular expression engine; each line
 * found is then tested alone, as the patterns say.
 */
export function scanOutput(
  output: string,
  patterns: readonly WarningPattern[],
  found: (pattern: WarningPattern, line: string) => void,
): void {
  const text = output.length > WARNING_SCAN_MAX ? output.slice(0, WARNING_SCAN_MAX) : output;
  // The start of each line already counted: a line counts once, for the first pattern.
  const counted = new Set<number>();
  const visit = (search: RegExp, test: (line: string) => WarningPattern | undefined) => {
    const re = new RegExp(search.source, search.flags);
    let match: RegExpExecArray | null;
    while ((match = re.exec(text)) !== null) {
      const start = text.lastIndexOf('\n', match.index - 1) + 1;
      let end = text.indexOf('\n', match.index);
      if (end === -1) end = text.length;
      re.lastIndex = Math.max(end + 1, match.index + 1);
      if (counted.has(start)) continue;
      const line = text.slice(start, text.charCodeAt(end - 1) === 13 ? end - 1 : end);
      const pattern = line.trim() === '' ? undefined : test(line);
      if (!pattern) continue;
      counted.add(start);
      found(pattern, line.length > QUOTE_MAX ? line.slice(0, QUOTE_MAX) : line);
    }
  };
  for (const own of patterns) {
    if (own.search) visit(own.search, (line) => (own.matches(line) ? own : undefined));
  }
  const defaults = patterns.filter((p) => !p.search);
  visit(CANDIDATE_WORDS, (line) => matchWarning(line, defaults));
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
