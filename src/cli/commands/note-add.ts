import type { Command } from 'commander';
import {
  describeSubject,
  findingKeySchema,
  noteImpactSchema,
  NOTE_IMPACTS,
  noteSectionSchema,
  NOTE_SECTIONS,
  noteTextSchema,
} from '../../protocol/note-api.js';
import { FerryError } from '../../protocol/errors.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { fixedByFrom, subjectFrom } from '../note-text.js';
import { printable, printJson } from '../output.js';
import { parseArg } from '../parse-arg.js';

/** `ferry note add <app>@<version> | --label L`: a note for the release report; prints its id. */
export function registerNoteAdd(note: Command): void {
  note
    .command('add [ref]')
    .description(
      'add a note on a bundle (<app>@<version>) or a label (--label), for its release report; prints the new note id',
    )
    .option('--label <label>', 'on every bundle pushed with this label, across apps')
    .option(
      '--section <section>',
      `the report section: ${NOTE_SECTIONS.join(', ')} (with --finding, deployment unless given)`,
    )
    .requiredOption('--impact <impact>', `how much it matters: ${NOTE_IMPACTS.join(', ')}`)
    .option(
      '--text <text>',
      "what happened, what was seen (with --finding, the finding's title unless given)",
    )
    .option('--fixed-by <ref>', 'the bundle that fixed it (<app>@<version>), for a patch')
    .option(
      '--finding <key>',
      "the report's finding this note confirms or gives another impact (its key, such as warnings/cart/qa/postgres)",
    )
    .option('--json', 'print the note as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  ferry note add --label 0.4.0 --section deployment --impact minor --text "MQ daemon logs stdout and stderr to one file"\n' +
        '  ferry note add cart@12 --section patch --impact major --text "sequence already existed" --fixed-by cart@13\n' +
        '  ferry note add --label 0.4.0 --finding warnings/cart/qa/postgres --impact major',
    )
    .action(
      async (
        ref: string | undefined,
        options: {
          label?: string;
          section?: string;
          impact: string;
          text?: string;
          fixedBy?: string;
          finding?: string;
        },
        command: Command,
      ) => {
        const globals = command.optsWithGlobals<GlobalOptions>();
        const on = subjectFrom(ref, options.label);
        const finding =
          options.finding === undefined
            ? undefined
            : parseArg(findingKeySchema, options.finding, '--finding');
        // A finding's note goes in the deployment issues unless told otherwise.
        const section = options.section ?? (finding === undefined ? undefined : 'deployment');
        if (section === undefined) {
          throw new FerryError(
            'E_BAD_REQUEST',
            'Missing --section: one of ' + NOTE_SECTIONS.join(', '),
          );
        }
        if (options.text === undefined && finding === undefined) {
          throw new FerryError('E_BAD_REQUEST', 'Missing --text: what happened, what was seen');
        }
        const note = await (
          await connect(globals)
        ).addNote({
          on,
          section: parseArg(noteSectionSchema, section, '--section'),
          impact: parseArg(noteImpactSchema, options.impact, '--impact'),
          ...(options.text === undefined
            ? {}
            : { text: parseArg(noteTextSchema, options.text, '--text') }),
          ...(options.fixedBy === undefined ? {} : { fixedBy: fixedByFrom(options.fixedBy) }),
          ...(finding === undefined ? {} : { finding }),
        });
        if (globals.json) {
          printJson(note);
          return;
        }
        process.stdout.write(`${note.id}\n`);
        process.stderr.write(
          printable(
            `Added note ${note.id} on ${describeSubject(note.on)} (${note.section}, ${note.impact})`,
          ) + '\n',
        );
      },
    );
}
