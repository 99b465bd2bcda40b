import type { Command } from 'commander';
import { connect, type GlobalOptions } from '../cli-context.js';
import { printJson } from '../output.js';

/** `ferry logs <install-id>`: every step's stdout and stderr, as the agent reported them. */
export function registerLogs(program: Command): void {
  program
    .command('logs <install>')
    .description('print the stored output of each step of an install')
    .option('--json', 'print the logs as JSON')
    .action(async (id: string, _options: unknown, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const logs = await (await connect(globals)).installLogs(id);
      if (globals.json) {
        printJson(logs);
        return;
      }
      for (const step of logs.steps) {
        process.stdout.write(`== ${step.step}\n`);
        if (step.stdout)
          process.stdout.write(
            `-- stdout\n${step.stdout}${step.stdout.endsWith('\n') ? '' : '\n'}`,
          );
        if (step.stderr)
          process.stdout.write(
            `-- stderr\n${step.stderr}${step.stderr.endsWith('\n') ? '' : '\n'}`,
          );
      }
    });
}
