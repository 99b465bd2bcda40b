import type { Command } from 'commander';
import { countTextSchema } from '../../protocol/fields.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { parseArg } from '../parse-arg.js';
import { printJson, printTable, shortTime } from '../output.js';

/**
 * `ferry history [app]`: an app's pushes, deployments, rollbacks, verdict
 * changes, installs by hand, catch-ups and cancels, newest first; without an
 * app, every app's and the server's own (variables, hosts, tokens).
 */
export function registerHistory(program: Command): void {
  program
    .command('history [app]')
    .description(
      "an app's pushes, deployments, rollbacks, verdict changes, installs by hand, catch-ups and cancels, newest first, with who and when; without an app, every app's and the server's (variables, hosts, tokens)",
    )
    .option('--limit <n>', 'at most this many entries (default 200)')
    .option('--json', 'print the history as JSON')
    .action(async (app: string | undefined, options: { limit?: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const history = await (
        await connect(globals)
      ).history(
        app,
        options.limit === undefined
          ? undefined
          : parseArg(countTextSchema(1, 1000), options.limit, '--limit'),
      );
      if (globals.json) {
        printJson(history);
        return;
      }
      printTable(history, [
        ['AT', (e) => shortTime(e.at)],
        ['WHAT', (e) => e.type],
        [
          'BUNDLE',
          (e) => (e.app === null ? '' : e.version === null ? e.app : `${e.app}@${e.version}`),
        ],
        ['ENV', (e) => e.env],
        ['DETAIL', (e) => e.detail],
        ['BY', (e) => (e.triggeredBy ? `${e.by}, triggered by ${e.triggeredBy}` : e.by)],
        [
          'NOTE',
          (e) => (e.deploymentId ? `${e.deploymentId}${e.note ? ` ${e.note}` : ''}` : e.note),
        ],
      ]);
    });
}
