import type { Command } from 'commander';
import { bundleRefSchema, verdictSchema, type VerdictMarkResult } from '../../protocol/api.js';
import { FerryError } from '../../protocol/errors.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { printable, printJson } from '../output.js';
import { parseArg } from '../parse-arg.js';
import { startedLines } from '../follow-deployment.js';

/** `ferry mark <app>@<version> passed|failed`: QA's verdict on a bundle. */
export function registerMark(program: Command): void {
  program
    .command('mark <ref> <verdict>')
    .description('mark a bundle passed or failed (needs a qa or admin token); every change is kept')
    .option('--note <text>', 'why: what was tested, what broke')
    .option(
      '--rollback',
      'with failed: roll back every environment where the bundle is live (needs the right to deploy there)',
    )
    .option(
      '--yes',
      'with --rollback: go back even where migrations ran since the version gone back to (it never undoes them)',
    )
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nA rollback across versions whose migrations ran in an environment is refused there\n' +
        '(the verdict is recorded all the same) until you pass --yes, as ferry rollback is.\n\n' +
        'Examples:\n  ferry mark cart@12 passed --note "checkout and refunds OK"\n  ferry mark cart@12 failed --note "totals wrong with coupons"\n  ferry mark cart@12 failed --rollback --yes',
    )
    .action(
      async (
        ref: string,
        verdictWord: string,
        options: { note?: string; rollback?: boolean; yes?: boolean },
        command: Command,
      ) => {
        const globals = command.optsWithGlobals<GlobalOptions>();
        const { app, version } = parseArg(bundleRefSchema, ref, 'bundle');
        const verdict = parseArg(verdictSchema, verdictWord, 'verdict');
        if (options.yes && !(options.rollback && verdict === 'failed')) {
          throw new FerryError(
            'E_BAD_REQUEST',
            '--yes goes with failed --rollback: it lets the rollback go back across migrations',
          );
        }
        const result = await (
          await connect(globals)
        ).markVerdict(app, version, {
          verdict,
          ...(options.note === undefined ? {} : { note: options.note }),
          ...(options.rollback ? { rollback: true } : {}),
          ...(options.rollback && options.yes ? { confirmMigrations: true } : {}),
        });
        if (globals.json) printJson(result);
        else process.stdout.write(markLines(result).map(printable).join('\n') + '\n');
        process.exitCode = markExitCode(result, options.rollback === true);
      },
    );
}

/**
 * 1 when `--rollback` was asked and an environment where the bundle is live was
 * not rolled back (refused: migrations without `--yes`, a deploy lock, no right
 * to deploy there): the verdict is recorded, but what was asked is not all done.
 */
export function markExitCode(result: VerdictMarkResult, rollbackAsked: boolean): number {
  if (!rollbackAsked || result.verdict !== 'failed') return 0;
  const rolledBack = new Set(
    result.deployments.filter((d) => d.kind === 'rollback' && d.id !== null).map((d) => d.env),
  );
  return result.liveIn.every((env) => rolledBack.has(env)) ? 0 : 1;
}

/** What `ferry mark` prints: the change, where the bundle is live, and what it started. */
export function markLines(result: VerdictMarkResult): string[] {
  const lines = [`${result.bundle}: ${result.verdict} (was ${result.previous}), by ${result.by}`];
  if (result.liveOn.length > 0) {
    lines.push(`live on: ${result.liveOn.map((live) => `${live.host} (${live.env})`).join(', ')}`);
  }
  const rolledBack = new Set(
    result.deployments.filter((d) => d.kind === 'rollback').map((d) => d.env),
  );
  const notRolledBack = result.liveIn.filter((env) => !rolledBack.has(env));
  if (result.verdict === 'failed' && notRolledBack.length > 0) {
    const app = result.bundle.split('@')[0]!;
    lines.push(
      `it is the desired release in ${notRolledBack.join(', ')}: roll back with ` +
        `\`ferry mark ${result.bundle} failed --rollback\` or ${notRolledBack
          .map((env) => `\`ferry rollback ${app} --env ${env}\``)
          .join(', ')}`,
    );
  }
  lines.push(...startedLines(result.deployments));
  return lines;
}
