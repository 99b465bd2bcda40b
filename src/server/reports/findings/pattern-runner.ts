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
 * context where a timeout can stop them: a pattern that runs past its time
 * over one install's lines (twice) is stopped, what it matched until then is kept,
 * and it is not run again by this runner (one per report).
 *
 * @example
 *   const runner = new PatternRunner();
 *   const matched = runner.matchingLines(pattern.id, re, lines); // indices into lines
 *   if (runner.stopped(pattern.id)) …
 */
export class PatternRunner {
  private readonly stoppedIds = new Set<string>();
  private readonly context = createContext({ job: null }) as { job: unknown };

  constructor(
    private readonly budgetMs = MANIFEST_PATTERN_BUDGET_MS,
    private readonly msPerMiB = MANIFEST_PATTERN_MS_PER_MIB,
  ) {
    DEFINE_TEST_LINES.runInContext(this.context);
  }

  /** The indices of the lines `re` matches (none once the pattern `id` was stopped). */
  matchingLines(id: string, re: RegExp, lines: readonly string[]): number[] {
    if (this.stoppedIds.has(id) || lines.length === 0) return [];
    const matched: number[] = [];
    let chars = 0;
    const cut = lines.map((l) => {
      const line = l.length > MANIFEST_LINE_MAX ? l.slice(0, MANIFEST_LINE_MAX) : l;
      chars += line.length;
      return line;
    });
    const timeout = Math.ceil(this.budgetMs + (this.msPerMiB * chars) / (1024 * 1024));
    // A pattern is stopped only when it runs past its time twice: a first run
    // can be slow for other reasons (the context's first calls, a collection).
    for (let attempt = 1; ; attempt++) {
      matched.length = 0;
      this.context.job = {
        re: new RegExp(re.source, re.flags.replace(/[gy]/g, '')),
        lines: cut,
        matched,
      };
      try {
        TEST_LINES.runInContext(this.context, { timeout });
        break;
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw err;
        if (attempt === 2) {
          this.stoppedIds.add(id);
          break;
        }
      } finally {
        this.context.job = null;
      }
    }
    return matched;
  }

  /** Whether the pattern `id` ran past its time and was stopped. */
  stopped(id: string): boolean {
    return this.stoppedIds.has(id);
  }
}
