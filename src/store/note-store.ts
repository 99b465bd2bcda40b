import type {
  ActionListItem,
  ActionRecord,
  BundleKey,
  NoteImpact,
  NoteRecord,
  NoteSection,
  NoteSubject,
} from '../protocol/note-api.js';

/** A note before the store numbers it. */
export interface NewNote {
  on: NoteSubject;
  section: NoteSection;
  impact: NoteImpact;
  text: string;
  fixedBy: BundleKey | null;
  /** The report's finding the note is made from; none when absent. */
  finding?: string | null;
  at: string;
  by: string;
}

/** What an edit changes; what is absent stays. `fixedBy: null` removes it. */
export interface NotePatch {
  section?: NoteSection;
  impact?: NoteImpact;
  text?: string;
  fixedBy?: BundleKey | null;
}

/** An action before the store numbers it. */
export interface NewAction {
  noteId: number;
  owner: string;
  text: string;
  at: string;
  by: string;
}

/**
 * Which notes: of one bundle (`app` and `version`), of every bundle of an app
 * (`app`), of a label (those on the label and those on each bundle that
 * carries it), or all of them.
 */
export interface NoteQuery {
  app?: string;
  version?: number;
  label?: string;
}

/**
 * Notes people attach to bundles and labels, and the actions on them, each
 * kept with who and when. Notes are never removed: they are the release's
 * record. Ids are numbers the store gives, increasing, for people to type.
 *
 * @example
 *   const note = await store.notes.add({ on: { kind: 'label', label: '0.4.0' },
 *     section: 'deployment', impact: 'minor', text: '…', fixedBy: null, at: now, by: 'alice' });
 *   await store.notes.addAction({ noteId: note.id, owner: 'bob', text: '…', at: now, by: 'alice' });
 *   const open = await store.notes.listActions({ owner: 'bob', open: true });
 */
export interface NoteStore {
  /** Records a note and answers it, numbered, with no actions. */
  add(note: NewNote): Promise<NoteRecord>;
  /** A note with its actions. */
  get(id: number): Promise<NoteRecord | undefined>;
  /**
   * Changes a note and stamps who and when; answers it before and after, read
   * in the same transaction, or undefined when there is no such note.
   */
  edit(
    id: number,
    patch: NotePatch,
    change: { at: string; by: string },
  ): Promise<{ before: NoteRecord; after: NoteRecord } | undefined>;
  /** Notes with their actions, in the order they were added. */
  list(query?: NoteQuery): Promise<NoteRecord[]>;

  /** Records an action on a note; undefined when there is no such note. */
  addAction(action: NewAction): Promise<ActionRecord | undefined>;
  getAction(id: number): Promise<ActionRecord | undefined>;
  /**
   * Marks an action done, once: one done already stays as it was (who and when
   * it was done first), and `changed` is false. Undefined when there is none.
   */
  completeAction(
    id: number,
    change: { at: string; by: string },
  ): Promise<{ action: ActionRecord; changed: boolean } | undefined>;
  /** Actions with what their note is about, in the order they were added: of one owner, open only. */
  listActions(query?: { owner?: string; open?: boolean }): Promise<ActionListItem[]>;
}
