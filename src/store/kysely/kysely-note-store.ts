import type { Kysely, Selectable, Transaction } from 'kysely';
import type {
  ActionListItem,
  ActionRecord,
  NoteImpact,
  NoteRecord,
  NoteSection,
  NoteSubject,
} from '../../protocol/note-api.js';
import type { NewAction, NewNote, NotePatch, NoteQuery, NoteStore } from '../note-store.js';
import type { Database, NoteActionsTable, NotesTable } from '../schema.js';

/** How many ids go in one `in (…)`: far below what either database takes. */
const IDS_PER_QUERY = 500;

/**
 * `NoteStore` over Kysely, written once for every dialect: one row per note
 * and one per action; a note's subject is its bundle's columns or its label.
 */
export class KyselyNoteStore implements NoteStore {
  constructor(private readonly db: Kysely<Database>) {}

  async add(note: NewNote): Promise<NoteRecord> {
    const row = await this.db
      .insertInto('notes')
      .values({
        app: note.on.kind === 'bundle' ? note.on.app : null,
        version: note.on.kind === 'bundle' ? note.on.version : null,
        label: note.on.kind === 'label' ? note.on.label : null,
        section: note.section,
        impact: note.impact,
        text: note.text,
        fixed_by_app: note.fixedBy?.app ?? null,
        fixed_by_version: note.fixedBy?.version ?? null,
        finding: note.finding ?? null,
        created_at: note.at,
        created_by: note.by,
        updated_at: note.at,
        updated_by: note.by,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toNoteRecord(row, []);
  }

  async get(id: number): Promise<NoteRecord | undefined> {
    return readNote(this.db, id);
  }

  edit(
    id: number,
    patch: NotePatch,
    change: { at: string; by: string },
  ): Promise<{ before: NoteRecord; after: NoteRecord } | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const before = await readNote(trx, id);
      if (!before) return undefined;
      await trx
        .updateTable('notes')
        .set({
          ...(patch.section === undefined ? {} : { section: patch.section }),
          ...(patch.impact === undefined ? {} : { impact: patch.impact }),
          ...(patch.text === undefined ? {} : { text: patch.text }),
          ...(patch.fixedBy === undefined
            ? {}
            : {
                fixed_by_app: patch.fixedBy?.app ?? null,
                fixed_by_version: patch.fixedBy?.version ?? null,
              }),
          updated_at: change.at,
          updated_by: change.by,
        })
        .where('id', '=', id)
        .execute();
      const after = await readNote(trx, id);
      return after && { before, after };
    });
  }

  async list(query: NoteQuery = {}): Promise<NoteRecord[]> {
    let select = this.db.selectFrom('notes').selectAll('notes');
    if (query.app !== undefined) select = select.where('notes.app', '=', query.app);
    if (query.version !== undefined) select = select.where('notes.version', '=', query.version);
    const label = query.label;
    if (label !== undefined) {
      select = select.where((eb) =>
        eb.or([
          eb('notes.label', '=', label),
          eb.exists(
            eb
              .selectFrom('bundles')
              .select('bundles.app')
              .whereRef('bundles.app', '=', 'notes.app')
              .whereRef('bundles.version', '=', 'notes.version')
              .where('bundles.label', '=', label),
          ),
        ]),
      );
    }
    const rows = await select.orderBy('notes.id').execute();
    const actions = await actionsOf(
      this.db,
      rows.map((r) => Number(r.id)),
    );
    return rows.map((row) => toNoteRecord(row, actions.get(Number(row.id)) ?? []));
  }

  addAction(action: NewAction): Promise<ActionRecord | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const note = await trx
        .selectFrom('notes')
        .select('id')
        .where('id', '=', action.noteId)
        .executeTakeFirst();
      if (!note) return undefined;
      const row = await trx
        .insertInto('note_actions')
        .values({
          note_id: action.noteId,
          owner: action.owner,
          text: action.text,
          created_at: action.at,
          created_by: action.by,
          done_at: null,
          done_by: null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toActionRecord(row);
    });
  }

  async getAction(id: number): Promise<ActionRecord | undefined> {
    const row = await this.db
      .selectFrom('note_actions')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toActionRecord(row);
  }

  async completeAction(
    id: number,
    change: { at: string; by: string },
  ): Promise<{ action: ActionRecord; changed: boolean } | undefined> {
    // Only an open action is changed: of two at once, one changes it and the
    // other finds it done, with the first one's who and when.
    const result = await this.db
      .updateTable('note_actions')
      .set({ done_at: change.at, done_by: change.by })
      .where('id', '=', id)
      .where('done_at', 'is', null)
      .executeTakeFirst();
    const action = await this.getAction(id);
    return action && { action, changed: Number(result.numUpdatedRows) > 0 };
  }

  async listActions(query: { owner?: string; open?: boolean } = {}): Promise<ActionListItem[]> {
    let select = this.db
      .selectFrom('note_actions')
      .innerJoin('notes', 'notes.id', 'note_actions.note_id')
      .selectAll('note_actions')
      .select([
        'notes.app as note_app',
        'notes.version as note_version',
        'notes.label as note_label',
        'notes.section as note_section',
        'notes.impact as note_impact',
        'notes.text as note_text',
      ]);
    if (query.owner !== undefined) select = select.where('note_actions.owner', '=', query.owner);
    if (query.open === true) select = select.where('note_actions.done_at', 'is', null);
    if (query.open === false) select = select.where('note_actions.done_at', 'is not', null);
    const rows = await select.orderBy('note_actions.id').execute();
    return rows.map((row) => ({
      ...toActionRecord(row),
      note: {
        on: subjectOf({ app: row.note_app, version: row.note_version, label: row.note_label }),
        section: row.note_section as NoteSection,
        impact: row.note_impact as NoteImpact,
        text: row.note_text,
      },
    }));
  }
}

async function readNote(
  db: Kysely<Database> | Transaction<Database>,
  id: number,
): Promise<NoteRecord | undefined> {
  const row = await db.selectFrom('notes').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) return undefined;
  const actions = await actionsOf(db, [id]);
  return toNoteRecord(row, actions.get(id) ?? []);
}

/** The actions of each note, by note id, in the order they were added. */
async function actionsOf(
  db: Kysely<Database> | Transaction<Database>,
  noteIds: number[],
): Promise<Map<number, ActionRecord[]>> {
  const byNote = new Map<number, ActionRecord[]>();
  for (let i = 0; i < noteIds.length; i += IDS_PER_QUERY) {
    const rows = await db
      .selectFrom('note_actions')
      .selectAll()
      .where('note_id', 'in', noteIds.slice(i, i + IDS_PER_QUERY))
      .orderBy('id')
      .execute();
    for (const row of rows) {
      const action = toActionRecord(row);
      const list = byNote.get(action.noteId);
      if (list) list.push(action);
      else byNote.set(action.noteId, [action]);
    }
  }
  return byNote;
}

function subjectOf(row: {
  app: string | null;
  version: number | string | null;
  label: string | null;
}): NoteSubject {
  if (row.app !== null && row.version !== null) {
    return { kind: 'bundle', app: row.app, version: Number(row.version) };
  }
  return { kind: 'label', label: row.label ?? '' };
}

function toNoteRecord(row: Selectable<NotesTable>, actions: ActionRecord[]): NoteRecord {
  return {
    id: Number(row.id),
    on: subjectOf(row),
    section: row.section as NoteSection,
    impact: row.impact as NoteImpact,
    text: row.text,
    fixedBy:
      row.fixed_by_app === null || row.fixed_by_version === null
        ? null
        : { app: row.fixed_by_app, version: Number(row.fixed_by_version) },
    finding: row.finding ?? null,
    createdAt: row.created_at,
    createdBy: row.created_by,
    updatedAt: row.updated_at,
    updatedBy: row.updated_by,
    actions,
  };
}

function toActionRecord(row: Selectable<NoteActionsTable>): ActionRecord {
  return {
    id: Number(row.id),
    noteId: Number(row.note_id),
    owner: row.owner,
    text: row.text,
    done: row.done_at !== null,
    createdAt: row.created_at,
    createdBy: row.created_by,
    doneAt: row.done_at,
    doneBy: row.done_by,
  };
}
