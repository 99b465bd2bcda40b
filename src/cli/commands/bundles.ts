import type { Command } from 'commander';
import { appNameSchema } from '../../bundle/manifest-schema.js';
import { countTextSchema } from '../../protocol/fields.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { parseArg } from '../parse-arg.js';
import { printJson, printTable, shortTime } from '../output.js';
import { formatBytes } from '../progress.js';

/** `ferry bundles <app>`: an app's bundles, newest first. */
export function registerBundles(program: Command): void {
  program
    .command('bundles <app>')
    .description("list an app's bundles, newest first")
    .option('--limit <n>', 'show at most this many')
    .option('--json', 'print the list as JSON')
    .action(async (app: string, options: { limit?: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const bundles = await (
        await connect(globals)
      ).bundles(
        parseArg(appNameSchema, app, 'app'),
        options.limit === undefined
          ? undefined
          : parseArg(countTextSchema(1, 1000), options.limit, '--limit'),
      );
      if (globals.json) {
        printJson(bundles);
        return;
      }
      printTable(bundles, [
        ['VERSION', (b) => b.version],
        ['LABEL', (b) => b.label],
        ['COMMIT', (b) => (b.commit ? `${b.commit.slice(0, 10)}${b.dirty ? '+dirty' : ''}` : null)],
        ['SIZE', (b) => formatBytes(b.size)],
        ['SHA256', (b) => b.sha256.slice(0, 12)],
        ['PUSHED', (b) => shortTime(b.pushedAt)],
        ['BY', (b) => b.pushedBy],
      ]);
    });
}
