import type { Command } from 'commander';
import { connect, type GlobalOptions } from '../cli-context.js';
import { printJson, printTable, shortTime } from '../output.js';

/** `ferry apps`: every app the server knows, with its latest version. */
export function registerApps(program: Command): void {
  program
    .command('apps')
    .description('list the apps that have bundles on the server')
    .option('--json', 'print the list as JSON')
    .action(async (_options: unknown, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const apps = await (await connect(globals)).apps();
      if (globals.json) {
        printJson(apps);
        return;
      }
      printTable(
        apps,
        [
          ['APP', (a) => a.name],
          ['LATEST', (a) => a.latestVersion],
          ['BUNDLES', (a) => a.bundleCount],
          ['LAST PUSH', (a) => shortTime(a.lastPushedAt)],
        ],
        'No apps yet: push one with `ferry push <dir>`.',
      );
    });
}
