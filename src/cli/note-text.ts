import { bundleRefSchema } from '../protocol/api.js';
import { FerryError } from '../protocol/errors.js';
import { labelSchema } from '../protocol/fields.js';
import {
  type ActionRecord,
  type BundleKey,
  describeSubject,
  type NoteRecord,
  type NoteSubject,
} from '../protocol/note-api.js';
import { printable, shortTime } from './output.js';
import { parseArg } from './parse-arg.js';

/**
 * What a note command is about, from its `<app>@<version>` argument or its
 * `--label`: exactly one of them.
 *
 * @example
 *   subjectFrom('cart@12', undefined); // { kind: 'bundle', app: 'cart', version: 12 }
 */
export function subjectFrom(ref: string | undefined, label: string | undefined): NoteSubject {
  if ((ref === undefined) === (label === undefined)) {
    throw new FerryError(
      'E_BAD_REQUEST',
      'Say what the note is on: a bundle (<app>@<version>) or a label (--label L), one of them',
    );
  }
  if (label !== undefined) return { kind: 'label', label: parseArg(labelSchema, label, '--label') };
  const { app, version } = parseArg(bundleRefSchema, ref, 'bundle');
  return { kind: 'bundle', app, version };
}

/** `--fixed-by <app>@<version>`. */
export function fixedByFrom(ref: string): BundleKey {
  return parseArg(bundleRefSchema, ref, '--fixed-by');
}

/**
 * A note as `ferry note list` prints it: a head line, its text (every line of
 * it), the bundle that fixed it, and its actions. Control characters show as
 * escapes.
 */
export function noteLines(note: NoteRecord): string[] {
  const lines = [
    `note ${note.id}  ${describeSubject(note.on)}  ${note.section}  ${note.impact}  ` +
      `by ${note.createdBy} ${shortTime(note.createdAt)}` +
      (note.updatedAt === note.createdAt
        ? ''
        : `, edited by ${note.updatedBy} ${shortTime(note.updatedAt)}`),
  ];
  for (const line of note.text.split('\n')) lines.push(`    ${line.replace(/\t/g, '  ')}`);
  if (note.fixedBy) lines.push(`    fixed by ${note.fixedBy.app}@${note.fixedBy.version}`);
  if (note.finding) lines.push(`    from finding ${note.finding}`);
  for (const action of note.actions) lines.push(`    ${actionLine(action)}`);
  return lines.map(printable);
}

/** `action 7 (bob, open): split the log files`. */
export function actionLine(action: ActionRecord): string {
  const state = action.done
    ? `done by ${action.doneBy ?? '?'} ${shortTime(action.doneAt)}`
    : 'open';
  return `action ${action.id} (${action.owner}, ${state}): ${firstLine(action.text)}`;
}

/** The first line of a text, for a table cell or a one-line summary. */
export function firstLine(text: string, max = 100): string {
  const [first = ''] = text.split('\n');
  const more = text.includes('\n') || first.length > max;
  return more ? `${first.slice(0, max - 1)}…` : first;
}
