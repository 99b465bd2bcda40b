import type { Command } from 'commander';
import { bundleRefSchema, verdictSchema, type VerdictMarkResult } from '../../protocol/api.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { printJson } from '../output.js';
import { parseArg } from '../parse-arg.js';

/** `ferry mark <app>@<version> passed|failed`: QA's verdict on a bundle. */
export function registerMark(program: Command): void {
  program
    .command('mark <ref> <verdict>')
    .description('mark a bundle passed or failed (needs a qa or admin token); every change is kept')
    .option('--note <text>', 'why: what was tested, what broke')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  ferry mark cart@12 passed --note "checkout and refunds OK"\n  ferry mark cart@12 failed --note "totals wrong with coupons"',
    )
    .action(
      async (ref: string, verdictWord: string, options: { note?: string }, command: Command) => {
        const globals = command.optsWithGlobals<GlobalOptions>();
        const { app, version } = parseArg(bundleRefSchema, ref, 'bundle');
        const verdict = parseArg(verdictSchema, verdictWord, 'verdict');
        const result = await (
          await connect(globals)
        ).markVerdict(app, version, {
          verdict,
          ...(options.note === undefined ? {} : { note: options.note }),
        });
        if (globals.json) {
          printJson(result);
          return;
        }
        process.stdout.write(markLines(result).join('\n') + '\n');
      },
    );
}

/** What `ferry mark` prints: the change, and where a failed bundle is still live. */
export function markLines(result: VerdictMarkResult): string[] {
  const lines = [`${result.bundle}: ${result.verdict} (was ${result.previous}), by ${result.by}`];
  if (result.liveOn.length > 0) {
    const hosts = result.liveOn.map((live) => `${live.host} (${live.env})`).join(', ');
    // Rollback is not built yet: say so rather than offer a command that does nothing.
    lines.push(
      result.verdict === 'failed'
        ? `live on: ${hosts} — roll back with \`ferry rollback\` once deployments exist`
        : `live on: ${hosts}`,
    );
  }
  return lines;
}
