import type { Command } from 'commander';
import { bundleRefSchema } from '../../protocol/api.js';
import { FerryError } from '../../protocol/errors.js';
import { labelSchema, PLAIN_NAME } from '../../protocol/fields.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { noteLines } from '../note-text.js';
import { printJson } from '../output.js';
import { parseArg } from '../parse-arg.js';

/** `ferry note list [<app>@<version> | <app> | --label L]`: notes with their actions. */
export function registerNoteList(note: Command): void {
  note
    .command('list [ref]')
    .description(
      "list notes with their actions: a bundle's (<app>@<version>), an app's (<app>), a label's (--label: on the label and on each bundle pushed with it), or all",
    )
    .option('--label <label>', "the notes of a label's release")
    .option('--json', 'print the notes as JSON')
    .addHelpText('after', '\nExamples:\n  ferry note list cart@12\n  ferry note list --label 0.4.0')
    .action(async (ref: string | undefined, options: { label?: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const api = await connect(globals);
      let notes;
      if (options.label !== undefined) {
        if (ref !== undefined) {
          throw new FerryError(
            'E_BAD_REQUEST',
            'List the notes of a bundle or app, or of a label (--label), not both',
          );
        }
        notes = await api.notes({ label: parseArg(labelSchema, options.label, '--label') });
      } else if (ref === undefined) {
        notes = await api.notes();
      } else if (PLAIN_NAME.test(ref)) {
        notes = await api.notes({ app: ref });
      } else {
        const { app, version } = parseArg(bundleRefSchema, ref, 'bundle');
        notes = await api.notes({ app, version });
      }
      if (globals.json) {
        printJson(notes);
        return;
      }
      if (notes.length === 0) {
        process.stdout.write(
          'No notes yet: add one with `ferry note add <app>@<version> | --label L --section S --impact I --text T`.\n',
        );
        return;
      }
      process.stdout.write(`${notes.map((n) => noteLines(n).join('\n')).join('\n\n')}\n`);
    });
}
