import type { Finding, FindingEntry } from '../../../protocol/report-api.js';
import {
  bundleOf,
  groupBy,
  latestInstalls,
  manifestValue,
  plural,
  type ReportScope,
} from './report-scope.js';
import { MANIFEST_PATTERN_BUDGET_MS, PatternRunner } from './pattern-runner.js';
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
    const runner = new PatternRunner();
    for (const entry of installs) {
      const { version } = entry.install;
      const patterns = compiled.get(version) ?? patternsFor(scope, app, version);
      compiled.set(version, patterns);
      for (const p of patterns) patternsById.set(p.id, p);
      const outputs = entry.logs.flatMap((log) => [
        { step: log.step, text: log.stdout },
        { step: log.step, text: log.stderr },
      ]);
      scanOutputs(
        outputs.map((o) => o.text),
        patterns,
        runner,
        (pattern, line, index) => {
          const step = outputs[index]!.step;
          const hosts = seen.get(pattern.id) ?? new Map<string, Seen>();
          seen.set(pattern.id, hosts);
          const host = entry.install.host;
          const at = hosts.get(host) ?? { host, count: 0, quote: line, steps: new Map() };
          hosts.set(host, at);
          at.count++;
          at.steps.set(step, (at.steps.get(step) ?? 0) + 1);
        },
      );
    }
    // A manifest pattern stopped for its time is said, even where it matched nothing.
    for (const id of patternsById.keys())
      if (runner.stopped(id) && !seen.has(id)) seen.set(id, new Map());
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
      const stopped = runner.stopped(id);
      findings.push({
        key: `warnings/${app}/${env}/${id}`,
        kind: 'warnings',
        title:
          `${capitalize(pattern.label)} in ${app}'s output in ${env}: ${plural(total, 'line')} on ${plural(entries.length, 'host')}` +
          (stopped
            ? ` (the pattern was stopped after ${MANIFEST_PATTERN_BUDGET_MS} ms: it backtracks too much, later lines were not tested)`
            : ''),
        suggestedImpact: 'minor',
        env,
        app,
        entries,
        data: { pattern: id, label: pattern.label, steps, ...(stopped ? { stopped: true } : {}) },
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
 * case): only such lines are tested against the defaults.
 */
const CANDIDATE_WORDS = /warn|notice|deprecat/i;

/**
 * Calls `found` for each line of the first `WARNING_SCAN_MAX` characters of
 * each of one install's `outputs` that is a warning, with the first pattern
 * it matches and the output's index. A manifest's patterns run line by line
 * through `runner` (lines cut, time bounded), once over all the install's
 * lines; the defaults, fast by design, test only the lines with a candidate word.
 */
export function scanOutputs(
  outputs: readonly string[],
  patterns: readonly WarningPattern[],
  runner: PatternRunner,
  found: (pattern: WarningPattern, line: string, output: number) => void,
): void {
  const lines: string[] = [];
  const outputOf: number[] = [];
  outputs.forEach((output, index) => {
    const text = output.length > WARNING_SCAN_MAX ? output.slice(0, WARNING_SCAN_MAX) : output;
    for (const raw of text.split('\n')) {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      // A blank line is no warning, whatever a pattern says (`^$`).
      lines.push(line.trim() === '' ? '' : line);
      outputOf.push(index);
    }
  });
  // Per line, the pattern it counts for: the first that matches it.
  const claimed = new Array<WarningPattern | undefined>(lines.length);
  for (const own of patterns) {
    if (!own.manifest) continue;
    for (const i of runner.matchingLines(own.id, own.manifest, lines)) claimed[i] ??= own;
  }
  const defaults = patterns.filter((p) => !p.manifest);
  lines.forEach((line, i) => {
    const pattern =
      claimed[i] ?? (CANDIDATE_WORDS.test(line) ? matchWarning(line, defaults) : undefined);
    if (pattern)
      found(pattern, line.length > QUOTE_MAX ? line.slice(0, QUOTE_MAX) : line, outputOf[i]!);
  });
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
