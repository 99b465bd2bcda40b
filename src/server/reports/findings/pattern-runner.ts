import { Script, createContext } from 'node:vm';

/** A manifest pattern's lines are tested up to this length: a team's regex should not see MBs. */
export const MANIFEST_LINE_MAX = 2000;

/**
 * How long, in all, one manifest pattern may run over one app's output in
 * one environment before it is stopped. A pattern that backtracks
 * (`^(\w+\s?)+:`) takes seconds on one ordinary line; the report (and the
 * whole server with it) must not wait for it.
 */
export const MANIFEST_PATTERN_BUDGET_MS = 50;

// Runs in its own context so that `timeout` can stop a regular expression in
// the middle of its backtracking; `i` says how far it got.
const TEST_LINES = new Script(
  'for (; i < lines.length; i++) if (lines[i] !== "" && re.test(lines[i])) matched.push(i);',
);

interface Spent {
  ms: number;
  stopped: boolean;
}

/**
 * Runs the patterns of a manifest's `report.warnings` (any regular expression
 * a deployer wrote) line by line, each line cut to `MANIFEST_LINE_MAX`, under
 * a time budget per pattern: a pattern that uses it up is stopped, what it
 * matched until then is kept, and it is not run again by this runner.
 *
 * @example
 *   const runner = new PatternRunner();
 *   const matched = runner.matchingLines(pattern.id, re, lines); // indices into lines
 *   if (runner.stopped(pattern.id)) …
 */
export class PatternRunner {
  private readonly spent = new Map<string, Spent>();
  private readonly context = createContext({ re: /$^/, lines: [], i: 0, matched: [] });

  constructor(private readonly budgetMs = MANIFEST_PATTERN_BUDGET_MS) {}

  /** The indices of the lines `re` matches (none once the pattern `id` was stopped). */
  matchingLines(id: string, re: RegExp, lines: readonly string[]): number[] {
    const spent = this.spent.get(id) ?? { ms: 0, stopped: false };
    this.spent.set(id, spent);
    if (spent.ms >= this.budgetMs) spent.stopped = true;
    if (spent.stopped || lines.length === 0) return [];
    const matched: number[] = [];
    Object.assign(this.context, {
      re: new RegExp(re.source, re.flags.replace(/[gy]/g, '')),
      lines: lines.map((l) => (l.length > MANIFEST_LINE_MAX ? l.slice(0, MANIFEST_LINE_MAX) : l)),
      i: 0,
      matched,
    });
    const started = performance.now();
    try {
      TEST_LINES.runInContext(this.context, {
        timeout: Math.max(1, Math.ceil(this.budgetMs - spent.ms)),
      });
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw err;
      spent.stopped = true;
    } finally {
      spent.ms += performance.now() - started;
      this.context.lines = [];
    }
    return matched;
  }

  /** Whether the pattern `id` used up its time and was stopped. */
  stopped(id: string): boolean {
    return this.spent.get(id)?.stopped ?? false;
  }
}
