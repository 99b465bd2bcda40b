import type { Finding, FindingEntry } from '../../../protocol/report-api.js';
import {
  bundleOf,
  groupBy,
  latestInstalls,
  manifestValue,
  plural,
  type ReportScope,
} from './report-scope.js';
import { PatternRunner, type PatternStop } from './pattern-runner.js';
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
 * `warnings/<app>/<env>/<pattern-id>`. The manifest patterns run through
 * `runner`, one per report: its time is the report's, over every app.
 */
export function warningFindings(scope: ReportScope, runner = new PatternRunner()): Finding[] {
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
      const stop = runner.stopOf(id);
      findings.push({
        key: `warnings/${app}/${env}/${id}`,
        kind: 'warnings',
        title:
          `${capitalize(pattern.label)} in ${app}'s output in ${env}: ${plural(total, 'line')} on ${plural(entries.length, 'host')}` +
          (stop ? ` (${stopText(stop, runner)}, and later lines were not tested)` : ''),
        suggestedImpact: 'minor',
        env,
        app,
        entries,
        data: {
          pattern: id,
          label: pattern.label,
          steps,
          ...(stop ? { stopped: true, stoppedFor: stop } : {}),
        },
        confirmedBy: null,
      });
    }
  }
  return findings.sort((a, b) => a.key.localeCompare(b.key));
}

function stopText(stop: PatternStop, runner: PatternRunner): string {
  return stop === 'timeouts'
    ? 'the pattern was stopped: it ran too long, as one that backtracks does'
    : `the pattern was stopped: the ${runner.reportMs} ms the report gives all manifest patterns were spent`;
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
 * each of one install's `outputs` that is a warning, with the first pattern
 * it matches and the output's index. A manifest's patterns run line by line
 * through `runner` (lines cut, time bounded), once over all the install's
 * lines; the defaults, fast by design, test only the lines an output search
 * for their words finds.
 */
export function scanOutputs(
  outputs: readonly string[],
  patterns: readonly WarningPattern[],
  runner: PatternRunner,
  found: (pattern: WarningPattern, line: string, output: number) => void,
): void {
  const texts = outputs.map((o) =>
    o.length > WARNING_SCAN_MAX ? o.slice(0, WARNING_SCAN_MAX) : o,
  );
  // Per output, the lines (by where they start) a manifest pattern claimed, in order.
  const claimed = texts.map(() => new Map<number, WarningPattern>());
  const own = patterns.filter((p) => p.manifest);
  if (own.length > 0) {
    const lines: string[] = [];
    const outputOf: number[] = [];
    const startOf: number[] = [];
    texts.forEach((text, o) => {
      for (let start = 0; start <= text.length;) {
        let end = text.indexOf('\n', start);
        if (end === -1) end = text.length;
        const line = lineAt(text, start, end);
        // A blank line is no warning, whatever a pattern says (`^$`).
        lines.push(line.trim() === '' ? '' : line);
        outputOf.push(o);
        startOf.push(start);
        start = end + 1;
      }
    });
    for (const pattern of own) {
      for (const i of runner.matchingLines(pattern.id, pattern.manifest!, lines)) {
        const taken = claimed[outputOf[i]!]!;
        if (!taken.has(startOf[i]!)) taken.set(startOf[i]!, pattern);
      }
    }
  }
  const defaults = patterns.filter((p) => !p.manifest);
  texts.forEach((text, o) => {
    const taken = claimed[o]!;
    for (const [start, pattern] of taken) {
      let end = text.indexOf('\n', start);
      if (end === -1) end = text.length;
      found(pattern, quoted(lineAt(text, start, end)), o);
    }
    const re = new RegExp(CANDIDATE_WORDS.source, CANDIDATE_WORDS.flags);
    let match: RegExpExecArray | null;
    while ((match = re.exec(text)) !== null) {
      const start = text.lastIndexOf('\n', match.index - 1) + 1;
      let end = text.indexOf('\n', match.index);
      if (end === -1) end = text.length;
      re.lastIndex = Math.max(end + 1, match.index + 1);
      if (taken.has(start)) continue;
      const line = lineAt(text, start, end);
      const pattern = line.trim() === '' ? undefined : matchWarning(line, defaults);
      if (pattern) found(pattern, quoted(line), o);
    }
  });
}

/** The line from `start` to `end`, without the CR of a CR LF. */
function lineAt(text: string, start: number, end: number): string {
  return text.slice(start, end > start && text.charCodeAt(end - 1) === 13 ? end - 1 : end);
}

function quoted(line: string): string {
  return line.length > QUOTE_MAX ? line.slice(0, QUOTE_MAX) : line;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
