import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NOTE_LIMITS, noteTextSchema } from '../protocol/note-api.js';
import type { Finding } from '../protocol/report-api.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { StoredToken } from '../store/store.js';
import { NoteService } from './note-service.js';

let dir: string;
let store: SqliteStore;

const token = { name: 'alice', role: 'qa' } as StoredToken;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-notes-'));
  store = SqliteStore.open(path.join(dir, 'ferry.db'));
  await store.migrate();
  await store.bundles.record(
    {
      app: 'cart',
      sha256: 'c'.repeat(64),
      size: 1,
      label: '0.4.0',
      commit: null,
      dirty: null,
      fileCount: 1,
      createdAt: new Date().toISOString(),
      pushedBy: 'dev',
      manifest: { role: 'cart' },
    },
    () => Promise.resolve(),
  );
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('NoteService: a note of a finding', () => {
  it("takes the finding's title held to the note text limit, without control characters", async () => {
    // A drift title quotes the values hosts run with: any length, anything in it.
    const title = `DATABASE_URL differs in prod: \u001b[31m${'v'.repeat(5000)}`;
    const finding: Finding = {
      key: 'drift/cart/prod/DATABASE_URL',
      kind: 'drift',
      title,
      suggestedImpact: 'major',
      env: 'prod',
      app: 'cart',
      entries: [],
      data: {},
      confirmedBy: null,
    };
    const notes = new NoteService(
      store,
      {
        get: async (app, version) => (await store.bundles.get(app, version))!,
      },
      () => Promise.resolve([finding]),
    );
    const note = await notes.add(token, {
      on: { kind: 'label', label: '0.4.0' },
      section: 'patch',
      impact: 'major',
      finding: finding.key,
    });
    expect(note.text).toHaveLength(NOTE_LIMITS.text);
    expect(note.text.startsWith('DATABASE_URL differs in prod:  [31mvvv')).toBe(true);
    expect(note.text.endsWith('v…')).toBe(true);
    expect(noteTextSchema.safeParse(note.text).success).toBe(true);
  });
});
