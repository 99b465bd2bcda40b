import type { Command } from 'commander';
import { recordIdTextSchema } from '../../protocol/note-api.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { printable, printJson } from '../output.js';
import { parseArg } from '../parse-arg.js';

/** `ferry action done <id>`: an action is done; done again, it stays as it was. */
export function registerActionDone(action: Command): void {
  action
    .command('done <id>')
    .description('mark an action done (once: done again, it keeps who did it first and when)')
    .option('--json', 'print the action and whether it changed as JSON')
    .addHelpText('after', '\nExample:\n  ferry action done 7')
    .action(async (idText: string, _options: unknown, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const id = parseArg(recordIdTextSchema, idText, 'action id');
      const result = await (await connect(globals)).completeAction(id);
      if (globals.json) {
        printJson(result);
        return;
      }
      const { action } = result;
      process.stdout.write(
        printable(
          result.changed
            ? `Action ${action.id} on note ${action.noteId} done`
            : `Action ${action.id} on note ${action.noteId} was done already, by ${action.doneBy ?? '?'} at ${action.doneAt ?? '?'}`,
        ) + '\n',
      );
    });
}
