import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import type { NoteRecord, NoteSection } from '../../../protocol/note-api.js';
import {
  actionPhrase,
  NOTE_SECTION_WORDS,
  noteFactPhrases,
} from '../../../report/report-phrases.js';
import { api } from '../../api/ferry-api.js';
import { ActionButton } from '../../components/action-button.js';
import { ErrorBox } from '../../components/error-box.js';
import { PhraseText } from '../../components/phrase-text.js';
import type { Permission } from '../../lib/permissions.js';

/** What the notes section may do, by the route each write calls. */
export interface NotePermissions {
  addNote: Permission;
  editNote: Permission;
  addAction: Permission;
  completeAction: Permission;
}

/**
 * The notes people added, by section, each with its impact, text, who and
 * when, and its actions; with the writes the person's role allows: add a
 * note, edit one, add an action, mark an action done.
 */
export function ReportNotes({
  sections,
  may,
  onAdd,
  onEdit,
  onAddAction,
  onChanged,
}: {
  sections: ReadonlyArray<{ section: NoteSection; notes: readonly NoteRecord[] }>;
  may: NotePermissions;
  onAdd: () => void;
  onEdit: (note: NoteRecord) => void;
  onAddAction: (note: NoteRecord) => void;
  /** A write succeeded: the report is fetched again. */
  onChanged: () => void;
}) {
  return (
    <section class="panel" aria-labelledby="notes-title" data-testid="report-notes">
      <h2 id="notes-title">Notes</h2>
      <div class="actions">
        <ActionButton permission={may.addNote} onClick={onAdd} kind="primary" testId="add-note">
          Add a note
        </ActionButton>
      </div>
      {sections.map(({ section, notes }) => (
        <div key={section} data-testid="note-section" data-section={section}>
          <h3>{NOTE_SECTION_WORDS[section].title}</h3>
          {notes.length === 0 ? (
            <p class="muted">{NOTE_SECTION_WORDS[section].empty}</p>
          ) : (
            <ul class="notes">
              {notes.map((note) => (
                <NoteItem
                  key={note.id}
                  note={note}
                  may={may}
                  onEdit={onEdit}
                  onAddAction={onAddAction}
                  onChanged={onChanged}
                />
              ))}
            </ul>
          )}
        </div>
      ))}
    </section>
  );
}

function NoteItem({
  note,
  may,
  onEdit,
  onAddAction,
  onChanged,
}: {
  note: NoteRecord;
  may: NotePermissions;
  onEdit: (note: NoteRecord) => void;
  onAddAction: (note: NoteRecord) => void;
  onChanged: () => void;
}) {
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState<number | null>(null);
  const complete = async (actionId: number) => {
    setBusy(actionId);
    setError(undefined);
    try {
      await api.call('completeAction', { params: { id: actionId } });
      onChanged();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };
  return (
    <li class="panel note" data-testid="note" data-note={note.id}>
      <p>
        <span class={`badge impact-${note.impact}`}>{note.impact}</span>{' '}
        <span class="muted">
          {noteFactPhrases(note).map((fact, index) => (
            <Fragment key={index}>
              {index > 0 && ' · '}
              <PhraseText phrase={fact} />
            </Fragment>
          ))}
        </span>
        {note.finding !== null && (
          <span class="muted">
            {' '}
            · confirms <code>{note.finding}</code>
          </span>
        )}
      </p>
      <p class="note-text" data-testid="note-text">
        {note.text}
      </p>
      {note.actions.length > 0 && (
        <ul class="note-actions">
          {note.actions.map((action) => (
            <li key={action.id} data-testid="note-action" data-done={String(action.done)}>
              <span class={action.done ? 'action-done' : undefined}>
                <strong>{action.owner}</strong>: {action.text}
              </span>{' '}
              <span class="badge tone-neutral">{action.done ? '✓ done' : '○ open'}</span>{' '}
              <span class="muted">
                <PhraseText phrase={actionPhrase(action)} />
              </span>
              {!action.done && (
                <ActionButton
                  permission={
                    busy === action.id ? { allowed: false, reason: 'marking…' } : may.completeAction
                  }
                  onClick={() => void complete(action.id)}
                >
                  Mark done
                </ActionButton>
              )}
            </li>
          ))}
        </ul>
      )}
      {error !== undefined && <ErrorBox error={error} title="Refused:" />}
      <div class="actions">
        <ActionButton permission={may.editNote} onClick={() => onEdit(note)}>
          Edit note
        </ActionButton>
        <ActionButton permission={may.addAction} onClick={() => onAddAction(note)}>
          Add an action
        </ActionButton>
      </div>
    </li>
  );
}
