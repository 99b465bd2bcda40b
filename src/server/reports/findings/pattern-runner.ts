import { Script, createContext } from 'node:vm';

/** A manifest pattern's lines are tested up to this length: a team's regex should not see MBs. */
export const MANIFEST_LINE_MAX = 2000;

/**
 * How long a manifest pattern may run over one install's lines: this, and
 * `MANIFEST_PATTERN_MS_PER_MIB` more for each MiB of them. A plain pattern
 * runs at hundreds of MiB a second; one that backtracks (`^(\w+\s?)+:`)
 * takes seconds on one ordinary line, and the report (and the whole server
 * with it) must not wait for it.
 */
export const MANIFEST_PATTERN_BUDGET_MS = 50;
/** The time a pattern is given per MiB of lines, beyond `MANIFEST_PATTERN_BUDGET_MS`. */
export const MANIFEST_PATTERN_MS_PER_MIB = 50;
/**
 * How long all manifest patterns together may run over one report, whatever
 * the number of installs: the report runs on the server's thread, and a
 * pattern just under its per-install time on each of 500 installs would hold
 * it for minutes. Once spent, no manifest pattern runs again in that report.
 */
export const MANIFEST_PATTERNS_REPORT_MS = 1000;
/** A pattern that runs past its time this many times in one report is not run again. */
export const MANIFEST_PATTERN_TIMEOUTS = 2;

/** Why a pattern was stopped: it ran past its time twice, or the report's time was spent. */
export type PatternStop = 'timeouts' | 'report-time';

/** What a `PatternRunner` is given; every field has a default. */
export interface PatternRunnerOptions {
  /** Per call (one install's lines): `MANIFEST_PATTERN_BUDGET_MS`. */
  budgetMs?: number;
  /** Per MiB of one call's lines: `MANIFEST_PATTERN_MS_PER_MIB`. */
  msPerMiB?: number;
  /** For all patterns over all calls: `MANIFEST_PATTERNS_REPORT_MS`. */
  reportMs?: number;
  /** A clock in milliseconds, replaced in tests; `performance.now`. */
  now?: () => number;
}

// Run in a context of its own so that `timeout` can stop a regular expression
// in the middle of its backtracking. The loop is a function of that context,
// reading its arguments once: each read of a context's global goes through
// the sandbox object, far slower than a local.
const DEFINE_TEST_LINES = new Script(`
  globalThis.testLines = function (job) {
    const { re, lines, matched } = job;
    for (let i = 0; i < lines.length; i++) if (lines[i] !== '' && re.test(lines[i])) matched.push(i);
  };
`);
const TEST_LINES = new Script('testLines(job)');

/**
 * Runs the patterns of a manifest's `report.warnings` (any regular expression
 * a deployer wrote) line by line, each line cut to `MANIFEST_LINE_MAX`, in a
 * context where a timeout can stop them. One runner serves one report: its
 * patterns share `reportMs`, and each call is given its per-install time or
 * what is left of the report's, whichever is less. A pattern that runs past
 * its time `MANIFEST_PATTERN_TIMEOUTS` times in the report (in one call or
 * over several) is stopped, and once the report's time is spent every
 * pattern is; what a stopped run matched until then is kept.
 *
 * @example
 *   const runner = new PatternRunner();
 *   const matched = runner.matchingLines(pattern.id, re, lines); // indices into lines
 *   if (runner.stopped(pattern.id)) …
 */
export class PatternRunner {
  private readonly stops = new Map<string, PatternStop>();
  private readonly timeouts = new Map<string, number>();
  private readonly context = createContext({ job: null }) as { job: unknown };
  private readonly budgetMs: number;
  private readonly msPerMiB: number;
  /** The milliseconds all patterns may run over the report. */
  readonly reportMs: number;
  private readonly now: () => number;
  private spent = 0;

  constructor(options: PatternRunnerOptions = {}) {
    this.budgetMs = options.budgetMs ?? MANIFEST_PATTERN_BUDGET_MS;
    this.msPerMiB = options.msPerMiB ?? MANIFEST_PATTERN_MS_PER_MIB;
    this.reportMs = options.reportMs ?? MANIFEST_PATTERNS_REPORT_MS;
    this.now = options.now ?? (() => performance.now());
    DEFINE_TEST_LINES.runInContext(this.context);
  }

  /** The indices of the lines `re` matches (none once the pattern `id` was stopped). */
  matchingLines(id: string, re: RegExp, lines: readonly string[]): number[] {
    if (this.stops.has(id) || lines.length === 0) return [];
    if (this.spentAll()) {
      this.stops.set(id, 'report-time');
      return [];
    }
    const matched: number[] = [];
    let chars = 0;
    const cut = lines.map((l) => {
      const line = l.length > MANIFEST_LINE_MAX ? l.slice(0, MANIFEST_LINE_MAX) : l;
      chars += line.length;
      return line;
    });
    const callMs = Math.ceil(this.budgetMs + (this.msPerMiB * chars) / (1024 * 1024));
    // A first timeout may be another cause's (the context's first calls, a
    // collection): the run is tried again, within what the report has left.
    for (;;) {
      const left = this.reportMs - this.spent;
      const timeout = Math.max(1, Math.ceil(Math.min(callMs, left)));
      matched.length = 0;
      this.context.job = {
        re: new RegExp(re.source, re.flags.replace(/[gy]/g, '')),
        lines: cut,
        matched,
      };
      const start = this.now();
      let timedOut = false;
      try {
        TEST_LINES.runInContext(this.context, { timeout });
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw err;
        timedOut = true;
      } finally {
        this.spent += this.now() - start;
        this.context.job = null;
      }
      if (!timedOut) break;
      const count = (this.timeouts.get(id) ?? 0) + 1;
      this.timeouts.set(id, count);
      if (timeout < callMs || this.spentAll()) {
        this.stops.set(id, 'report-time');
        break;
      }
      if (count >= MANIFEST_PATTERN_TIMEOUTS) {
        this.stops.set(id, 'timeouts');
        break;
      }
    }
    return matched;
  }

  /** Whether the pattern `id` was stopped, leaving lines untested. */
  stopped(id: string): boolean {
    return this.stops.has(id);
  }

  /** Why the pattern `id` was stopped, if it was. */
  stopOf(id: string): PatternStop | undefined {
    return this.stops.get(id);
  }

  /** The milliseconds all patterns have run so far in this report. */
  get spentMs(): number {
    return this.spent;
  }

  private spentAll(): boolean {
    return this.spent >= this.reportMs;
  }
}
