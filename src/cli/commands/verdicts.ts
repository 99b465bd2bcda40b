import type { Command } from 'commander';
import { bundleRefSchema } from '../../protocol/api.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { parseArg } from '../parse-arg.js';
import { printJson, printTable, shortTime } from '../output.js';

/** `ferry verdicts <app>@<version>`: a bundle's verdict history, newest first. */
export function registerVerdicts(program: Command): void {
  program
    .command('verdicts <ref>')
    .description("show a bundle's verdict changes, newest first, with who, when and the note")
    .option('--json', 'print the history as JSON')
    .addHelpText('after', '\nExample:\n  ferry verdicts cart@12')
    .action(async (ref: string, _options: unknown, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const { app, version } = parseArg(bundleRefSchema, ref, 'bundle');
      const verdicts = await (await connect(globals)).verdicts(app, version);
      if (globals.json) {
        printJson(verdicts);
        return;
      }
      printTable(
        verdicts,
        [
          ['AT', (v) => shortTime(v.at)],
          ['VERDICT', (v) => v.verdict],
          ['BY', (v) => v.by],
          ['NOTE', (v) => v.note],
        ],
        `(no verdict yet: ${app}@${version} is pending)`,
      );
    });
}
