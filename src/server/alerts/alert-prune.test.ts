import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NewAlert } from '../../store/alert-store.js';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import type { Store } from '../../store/store.js';
import { AlertPrune } from './alert-prune.js';

let dir: string;
let store: Store;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-alert-prune-'));
  store = SqliteStore.open(path.join(dir, 'ferry.db'));
  await store.migrate();
});

afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

const alert = (key: string, startedAt: string): NewAlert => ({
  kind: 'disk-full',
  key,
  env: 'qa',
  app: null,
  hostId: 'host_1',
  host: 'qa-1',
  version: null,
  deploymentId: null,
  message: `${key} is full`,
  startedAt,
});

describe('AlertPrune', () => {
  it('deletes at start the alerts cleared longer ago than keepDays, and keeps open ones however old', async () => {
    const now = new Date('2026-12-06T10:00:00.000Z');
    await store.alerts.raise(alert('old-cleared', '2026-01-01T00:00:00.000Z'));
    await store.alerts.clear('old-cleared', '2026-08-01T00:00:00.000Z', 'under 90%');
    await store.alerts.raise(alert('recent-cleared', '2026-11-01T00:00:00.000Z'));
    await store.alerts.clear('recent-cleared', '2026-12-01T00:00:00.000Z', 'under 90%');
    await store.alerts.raise(alert('old-open', '2026-01-01T00:00:00.000Z'));

    const errors: object[] = [];
    const prune = new AlertPrune(
      store,
      90,
      { error: (details) => errors.push(details) },
      () => now,
    );
    prune.start();
    await prune.stop();
    expect((await store.alerts.list()).map((a) => a.key).sort()).toEqual([
      'old-open',
      'recent-cleared',
    ]);
    expect(errors).toEqual([]);
  });
});
