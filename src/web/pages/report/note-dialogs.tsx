import {
  NOTE_IMPACTS,
  NOTE_LIMITS,
  NOTE_SECTIONS,
  type NoteImpact,
  type NoteRecord,
  type NoteSection,
} from '../../../protocol/note-api.js';
import type { Finding } from '../../../protocol/report-api.js';
import { NOTE_SECTION_WORDS } from '../../../report/report-phrases.js';
import { api } from '../../api/ferry-api.js';
import { ConfirmDialog } from '../../components/confirm-dialog.js';

const field = (form: HTMLFormElement, name: string) =>
  (form.elements.namedItem(name) as HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement)
    .value;

/**
 * Adds a note to a bundle, or edits one: its section, impact and text. A note
 * made from a finding confirms it (the finding's key goes with it; its text
 * may stay empty and take the finding's title).
 */
export function NoteDialog({
  app,
  version,
  note,
  finding,
  onDone,
  onClose,
}: {
  app: string;
  version: number;
  /** The note to edit; none: a new one. */
  note?: NoteRecord;
  /** The finding a new note confirms. */
  finding?: Finding;
  onDone: () => void;
  onClose: () => void;
}) {
  const section: NoteSection = note?.section ?? (finding ? 'deployment' : 'testing');
  const impact: NoteImpact = note?.impact ?? finding?.suggestedImpact ?? 'minor';
  const title = note
    ? `Edit note #${note.id}`
    : finding
      ? `Confirm “${finding.title}” as a note`
      : `Add a note to ${app}@${version}`;
  return (
    <ConfirmDialog
      title={title}
      confirmLabel={note ? 'Save note' : 'Add note'}
      onClose={onClose}
      onConfirm={async (form) => {
        const text = field(form, 'text').trim();
        const chosen = {
          section: field(form, 'section') as NoteSection,
          impact: field(form, 'impact') as NoteImpact,
        };
        if (note) {
          await api.call('editNote', {
            params: { id: note.id },
            body: { ...chosen, ...(text ? { text } : {}) },
          });
        } else {
          await api.call('addNote', {
            body: {
              on: { kind: 'bundle', app, version },
              ...chosen,
              ...(text ? { text } : {}),
              ...(finding ? { finding: finding.key } : {}),
            },
          });
        }
        onDone();
      }}
    >
      <label for="note-section">Section</label>
      <select id="note-section" name="section">
        {NOTE_SECTIONS.map((s) => (
          <option key={s} value={s} selected={s === section}>
            {NOTE_SECTION_WORDS[s].title}
          </option>
        ))}
      </select>
      <label for="note-impact">Impact</label>
      <select id="note-impact" name="impact">
        {NOTE_IMPACTS.map((i) => (
          <option key={i} value={i} selected={i === impact}>
            {i}
          </option>
        ))}
      </select>
      <label for="note-text">Text{finding && !note ? ' (empty: the finding’s title)' : ''}</label>
      <textarea
        id="note-text"
        name="text"
        maxLength={NOTE_LIMITS.text}
        required={!finding && !note}
        autoFocus
        defaultValue={note?.text ?? ''}
      />
    </ConfirmDialog>
  );
}

/** Gives an owner an action on a note. */
export function ActionDialog({
  note,
  onDone,
  onClose,
}: {
  note: NoteRecord;
  onDone: () => void;
  onClose: () => void;
}) {
  return (
    <ConfirmDialog
      title={`Add an action to note #${note.id}`}
      confirmLabel="Add action"
      onClose={onClose}
      onConfirm={async (form) => {
        await api.call('addAction', {
          params: { id: note.id },
          body: { owner: field(form, 'owner').trim(), text: field(form, 'text').trim() },
        });
        onDone();
      }}
    >
      <label for="action-owner">Owner</label>
      <input id="action-owner" name="owner" required maxLength={NOTE_LIMITS.owner} autoFocus />
      <label for="action-text">What to do</label>
      <textarea id="action-text" name="text" required maxLength={NOTE_LIMITS.text} />
    </ConfirmDialog>
  );
}
