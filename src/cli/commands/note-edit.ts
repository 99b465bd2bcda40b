import type { Command } from 'commander';
import {
  describeSubject,
  NOTE_IMPACTS,
  NOTE_SECTIONS,
  noteImpactSchema,
  noteSectionSchema,
  noteTextSchema,
  recordIdTextSchema,
} from '../../protocol/note-api.js';
import { FerryError } from '../../protocol/errors.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { fixedByFrom } from '../note-text.js';
import { printable, printJson } from '../output.js';
import { parseArg } from '../parse-arg.js';

/** `ferry note edit <id>`: change a note's section, impact, text or the bundle that fixed it. */
export function registerNoteEdit(note: Command): void {
  note
    .command('edit <id>')
    .description(
      "change a note's section, impact, text or the bundle that fixed it; what you leave out stays",
    )
    .option('--section <section>', `the report section: ${NOTE_SECTIONS.join(', ')}`)
    .option('--impact <impact>', `how much it matters: ${NOTE_IMPACTS.join(', ')}`)
    .option('--text <text>', 'the new text, in place of the old')
    .option('--fixed-by <ref>', 'the bundle that fixed it (<app>@<version>), or none to remove it')
    .option('--json', 'print the note as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  ferry note edit 3 --impact blocker\n  ferry note edit 3 --section patch --fixed-by cart@13',
    )
    .action(
      async (
        idText: string,
        options: { section?: string; impact?: string; text?: string; fixedBy?: string },
        command: Command,
      ) => {
        const globals = command.optsWithGlobals<GlobalOptions>();
        const id = parseArg(recordIdTextSchema, idText, 'note id');
        const { section, impact, text, fixedBy } = options;
        if ([section, impact, text, fixedBy].every((o) => o === undefined)) {
          throw new FerryError(
            'E_BAD_REQUEST',
            'Nothing to change: give --section, --impact, --text or --fixed-by',
          );
        }
        const body = {
          ...(section === undefined
            ? {}
            : { section: parseArg(noteSectionSchema, section, '--section') }),
          ...(impact === undefined
            ? {}
            : { impact: parseArg(noteImpactSchema, impact, '--impact') }),
          ...(text === undefined ? {} : { text: parseArg(noteTextSchema, text, '--text') }),
          ...(fixedBy === undefined
            ? {}
            : { fixedBy: fixedBy === 'none' ? null : fixedByFrom(fixedBy) }),
        };
        const edited = await (await connect(globals)).editNote(id, body);
        if (globals.json) {
          printJson(edited);
          return;
        }
        const fixed = edited.fixedBy
          ? `, fixed by ${edited.fixedBy.app}@${edited.fixedBy.version}`
          : '';
        process.stdout.write(
          printable(
            `Edited note ${edited.id} on ${describeSubject(edited.on)}: ${edited.section}, ${edited.impact}${fixed}`,
          ) + '\n',
        );
      },
    );
}
