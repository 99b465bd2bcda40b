import type { BundleDetail } from '../protocol/api.js';
import { FerryError } from '../protocol/errors.js';
import {
  type ActionAddBody,
  type ActionDoneResult,
  type ActionListItem,
  type ActionRecord,
  type ActionsQuery,
  type BundleKey,
  describeSubject,
  type NoteAddBody,
  type NoteEditBody,
  type NoteRecord,
  type NotesQuery,
  type NoteSubject,
  NOTE_LIMITS,
} from '../protocol/note-api.js';
import { CONTROL_CHARACTERS } from '../protocol/fields.js';
import type { Finding } from '../protocol/report-api.js';
import type { Store, StoredToken } from '../store/store.js';
import { historyEvent } from './history-event.js';

/** How much of a note's or action's text a line of history quotes. */
const QUOTED = 80;

/**
 * Notes people attach to a release (a bundle, or a label across apps) and the
 * actions they give owners: checked, recorded with who and when, and written
 * to history. The release report reads them with `notesFor`.
 *
 * @example
 *   const note = await notes.add(token, { on: { kind: 'bundle', app: 'cart', version: 12 },
 *     section: 'patch', impact: 'major', text: 'sequence already existed', fixedBy: { app: 'cart', version: 13 } });
 *   await notes.addAction(token, note.id, { owner: 'bob', text: 'drop the duplicate migration' });
 *   const forReport = await notes.notesFor({ label: '0.4.0' });
 */
export class NoteService {
  constructor(
    private readonly store: Store,
    /** Finds a bundle, or throws `E_APP_NOT_FOUND` / `E_BUNDLE_NOT_FOUND`. */
    private readonly bundles: { get(app: string, version: number): Promise<BundleDetail> },
    /** The findings of a subject's release report now (`ReportService`). */
    private readonly findings: (on: NoteSubject) => Promise<readonly Finding[]>,
  ) {}

  /** Adds a note on an existing bundle, or on a label at least one bundle carries. */
  async add(token: StoredToken, body: NoteAddBody): Promise<NoteRecord> {
    await this.requireSubject(body.on);
    if (body.fixedBy) await this.requireFixedBy(body.fixedBy);
    const finding =
      body.finding === undefined ? undefined : await this.finding(body.on, body.finding);
    const note = await this.store.notes.add({
      on: body.on,
      section: body.section,
      impact: body.impact,
      // The schema lets the text go only for a note of a finding.
      text: body.text ?? noteTextOf(finding?.title ?? ''),
      fixedBy: body.fixedBy ?? null,
      finding: body.finding ?? null,
      at: new Date().toISOString(),
      by: token.name,
    });
    await this.record(
      'note',
      token,
      note.on,
      `added note ${note.id} (${note.section}, ${note.impact})${fixedByText(note.fixedBy)}${note.finding === null ? '' : ` from finding ${note.finding}`}: ${quote(note.text)}`,
    );
    return note;
  }

  /** The finding of `on`'s report with this key; `E_FINDING_NOT_FOUND` when there is none. */
  private async finding(on: NoteSubject, key: string): Promise<Finding> {
    const found = (await this.findings(on)).find((f) => f.key === key);
    if (found) return found;
    throw new FerryError(
      'E_FINDING_NOT_FOUND',
      `The release report of ${describeSubject(on)} has no finding ${key}`,
      { finding: key },
    );
  }

  /** Changes what the body names; `E_NOTE_NOT_FOUND` for an unknown id. */
  async edit(token: StoredToken, id: number, body: NoteEditBody): Promise<NoteRecord> {
    await this.get(id);
    if (body.fixedBy) await this.requireFixedBy(body.fixedBy);
    const edited = await this.store.notes.edit(
      id,
      {
        ...(body.section === undefined ? {} : { section: body.section }),
        ...(body.impact === undefined ? {} : { impact: body.impact }),
        ...(body.text === undefined ? {} : { text: body.text }),
        ...(body.fixedBy === undefined ? {} : { fixedBy: body.fixedBy }),
      },
      { at: new Date().toISOString(), by: token.name },
    );
    if (!edited) throw noteNotFound(id);
    const { before, after } = edited;
    const changes: string[] = [];
    if (before.section !== after.section)
      changes.push(`section ${before.section} → ${after.section}`);
    if (before.impact !== after.impact) changes.push(`impact ${before.impact} → ${after.impact}`);
    if (before.text !== after.text) changes.push(`text now: ${quote(after.text)}`);
    if (refText(before.fixedBy) !== refText(after.fixedBy)) {
      changes.push(`fixed by ${refText(before.fixedBy)} → ${refText(after.fixedBy)}`);
    }
    await this.record(
      'note',
      token,
      after.on,
      `edited note ${id}: ${changes.length > 0 ? changes.join('; ') : 'nothing changed'}`,
    );
    return after;
  }

  /** One note with its actions. */
  async get(id: number): Promise<NoteRecord> {
    const note = await this.store.notes.get(id);
    if (!note) throw noteNotFound(id);
    return note;
  }

  /**
   * Notes of a bundle, of an app, of a label (on it and on each bundle it
   * names) or all; a bundle or label that does not exist is an error, not an
   * empty list.
   */
  async list(query: NotesQuery = {}): Promise<NoteRecord[]> {
    if (query.app !== undefined && query.version !== undefined) {
      return this.notesFor({ app: query.app, version: query.version });
    }
    if (query.label !== undefined) return this.notesFor({ label: query.label });
    if (query.app !== undefined) {
      if (!(await this.store.bundles.hasApp(query.app))) {
        throw new FerryError('E_APP_NOT_FOUND', `No app named "${query.app}" has been pushed`, {
          app: query.app,
        });
      }
      return this.store.notes.list({ app: query.app });
    }
    return this.store.notes.list();
  }

  /**
   * The notes of a release, with their actions, in the order they were added:
   * for a bundle, those on it; for a label, those on the label and on every
   * bundle pushed with it, across apps. The read the release report builds on.
   *
   * @example
   *   const notes = await service.notesFor({ app: 'cart', version: 12 });
   *   const release = await service.notesFor({ label: '0.4.0' });
   */
  async notesFor(
    release: { app: string; version: number } | { label: string },
  ): Promise<NoteRecord[]> {
    if ('label' in release) {
      await this.requireSubject({ kind: 'label', label: release.label });
      return this.store.notes.list({ label: release.label });
    }
    await this.bundles.get(release.app, release.version);
    return this.store.notes.list({ app: release.app, version: release.version });
  }

  /** Gives an owner an action on a note; `E_NOTE_NOT_FOUND` for an unknown note. */
  async addAction(token: StoredToken, noteId: number, body: ActionAddBody): Promise<ActionRecord> {
    const action = await this.store.notes.addAction({
      noteId,
      owner: body.owner,
      text: body.text,
      at: new Date().toISOString(),
      by: token.name,
    });
    if (!action) throw noteNotFound(noteId);
    const note = await this.get(noteId);
    await this.record(
      'action',
      token,
      note.on,
      `added action ${action.id} on note ${noteId} for ${action.owner}: ${quote(action.text)}`,
    );
    return action;
  }

  /**
   * Marks an action done. Done again, it stays as it was (`changed` false) and
   * nothing more is recorded.
   */
  async completeAction(token: StoredToken, id: number): Promise<ActionDoneResult> {
    const result = await this.store.notes.completeAction(id, {
      at: new Date().toISOString(),
      by: token.name,
    });
    if (!result) {
      throw new FerryError('E_ACTION_NOT_FOUND', `No action has the id ${id}`, { action: id });
    }
    if (result.changed) {
      const note = await this.get(result.action.noteId);
      await this.record(
        'action',
        token,
        note.on,
        `done action ${id} on note ${note.id} (${result.action.owner}): ${quote(result.action.text)}`,
      );
    }
    return result;
  }

  /** Actions, the list a person works from: of one owner, open only. */
  actions(query: ActionsQuery = {}): Promise<ActionListItem[]> {
    return this.store.notes.listActions(query);
  }

  private async requireSubject(on: NoteSubject): Promise<void> {
    if (on.kind === 'bundle') {
      await this.bundles.get(on.app, on.version);
      return;
    }
    if ((await this.store.bundles.listByLabel(on.label)).length === 0) {
      throw new FerryError(
        'E_LABEL_NOT_FOUND',
        `No bundle was pushed with the label "${on.label}"`,
        {
          label: on.label,
        },
      );
    }
  }

  /** The bundle a note says fixed it must exist; the error says which option named it. */
  private async requireFixedBy(fixedBy: BundleKey): Promise<void> {
    try {
      await this.bundles.get(fixedBy.app, fixedBy.version);
    } catch (err) {
      if (!(err instanceof FerryError)) throw err;
      throw new FerryError(err.code, `--fixed-by ${refText(fixedBy)}: ${err.message}`, {
        ...err.details,
        fixedBy: refText(fixedBy),
      });
    }
  }

  /** A line of history for the note's bundle (its app's history too) or label. */
  private record(
    type: 'note' | 'action',
    token: StoredToken,
    on: NoteSubject,
    detail: string,
  ): Promise<void> {
    return this.store.history.record(
      historyEvent({
        type,
        by: token.name,
        ...(on.kind === 'bundle' ? { app: on.app, version: on.version } : {}),
        detail: on.kind === 'label' ? `${detail} (on ${describeSubject(on)})` : detail,
      }),
    );
  }
}

function noteNotFound(id: number): FerryError {
  return new FerryError('E_NOTE_NOT_FOUND', `No note has the id ${id}`, { note: id });
}

function refText(ref: BundleKey | null): string {
  return ref === null ? 'none' : `${ref.app}@${ref.version}`;
}

function fixedByText(ref: BundleKey | null): string {
  return ref === null ? '' : `, fixed by ${refText(ref)}`;
}

/** The start of a text on one line, for a line of history. */
function quote(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > QUOTED ? `${line.slice(0, QUOTED - 1)}…` : line;
}

/**
 * A finding's title as a note's text, held to what `noteTextSchema` allows:
 * a title quotes what hosts reported (a drifting value can be any length, and
 * hold control characters), so it is cut to `NOTE_LIMITS.text` with an ellipsis,
 * and each control character becomes a space.
 */
export function noteTextOf(title: string): string {
  const printable = title.replace(new RegExp(CONTROL_CHARACTERS.source, 'gu'), ' ');
  const max = NOTE_LIMITS.text;
  return printable.length > max ? `${printable.slice(0, max - 1)}…` : printable;
}
