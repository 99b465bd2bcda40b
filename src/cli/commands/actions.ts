import type { Command } from 'commander';
import { actionOwnerSchema, describeSubject } from '../../protocol/note-api.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { firstLine } from '../note-text.js';
import { printJson, printTable, shortTime } from '../output.js';
import { parseArg } from '../parse-arg.js';

/** `ferry actions [--owner NAME] [--open]`: the list a person works from. */
export function registerActions(program: Command): void {
  program
    .command('actions')
    .description(
      'list the actions on notes, in the order added, with what each note is about: the list a person works from',
    )
    .option('--owner <name>', 'only the actions of this owner (as written when added)')
    .option('--open', 'only the actions not done yet')
    .option('--json', 'print the actions as JSON')
    .addHelpText('after', '\nExample:\n  ferry actions --owner bob --open')
    .action(async (options: { owner?: string; open?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const actions = await (
        await connect(globals)
      ).actions({
        ...(options.owner === undefined
          ? {}
          : { owner: parseArg(actionOwnerSchema, options.owner, '--owner') }),
        ...(options.open ? { open: true } : {}),
      });
      if (globals.json) {
        printJson(actions);
        return;
      }
      printTable(
        actions,
        [
          ['ID', (a) => a.id],
          ['OWNER', (a) => a.owner],
          ['STATE', (a) => (a.done ? 'done' : 'open')],
          ['ON', (a) => describeSubject(a.note.on)],
          ['NOTE', (a) => `${a.noteId} (${a.note.section}, ${a.note.impact})`],
          ['DONE', (a) => (a.done ? `${shortTime(a.doneAt)} by ${a.doneBy ?? '?'}` : null)],
          ['TEXT', (a) => firstLine(a.text)],
        ],
        options.owner === undefined
          ? '(no actions)'
          : `(no ${options.open ? 'open ' : ''}actions for ${options.owner})`,
      );
    });
}
