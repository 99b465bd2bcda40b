import type { Command } from 'commander';
import { actionOwnerSchema, noteTextSchema, recordIdTextSchema } from '../../protocol/note-api.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { printable, printJson } from '../output.js';
import { parseArg } from '../parse-arg.js';

/** `ferry action add <note-id> --owner NAME --text T`: something one person must do; prints its id. */
export function registerActionAdd(action: Command): void {
  action
    .command('add <note-id>')
    .description('give someone an action on a note; prints the new action id')
    .requiredOption('--owner <name>', 'who must do it')
    .requiredOption('--text <text>', 'what to do')
    .option('--json', 'print the action as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  ferry action add 3 --owner bob --text "send the MQ daemon\'s stderr to its own file"',
    )
    .action(
      async (noteIdText: string, options: { owner: string; text: string }, command: Command) => {
        const globals = command.optsWithGlobals<GlobalOptions>();
        const noteId = parseArg(recordIdTextSchema, noteIdText, 'note id');
        const body = {
          owner: parseArg(actionOwnerSchema, options.owner, '--owner'),
          text: parseArg(noteTextSchema, options.text, '--text'),
        };
        const added = await (await connect(globals)).addAction(noteId, body);
        if (globals.json) {
          printJson(added);
          return;
        }
        process.stdout.write(`${added.id}\n`);
        process.stderr.write(
          printable(`Added action ${added.id} on note ${noteId} for ${added.owner}`) + '\n',
        );
      },
    );
}
