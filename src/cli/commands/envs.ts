import type { Command } from 'commander';
import { connect, type GlobalOptions } from '../cli-context.js';
import { printJson, printTable } from '../output.js';

/** `ferry envs`: the environments in lifecycle order, with their settings. */
export function registerEnvs(program: Command): void {
  program
    .command('envs')
    .description('list the environments in lifecycle order, with their deploy settings and hosts')
    .option('--json', 'print the list as JSON')
    .action(async (_options: unknown, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const environments = await (await connect(globals)).environments();
      if (globals.json) {
        printJson(environments);
        return;
      }
      printTable(environments, [
        ['ENV', (e) => e.name],
        ['AUTO-DEPLOY', (e) => (e.autoDeploy ? 'yes' : 'no')],
        ['REQUIRES', (e) => e.requires],
        ['AUTO-PROMOTE', (e) => (e.autoPromote ? 'yes' : 'no')],
        ['BATCH', (e) => e.strategy.batch],
        ['MAX-FAILURES', (e) => e.strategy.maxFailures],
        ['ROLLBACK-ON-FAILURE', (e) => (e.strategy.rollbackOnFailure ? 'yes' : 'no')],
        ['HOSTS', (e) => `${e.connectedHosts}/${e.hosts} connected`],
      ]);
    });
}
