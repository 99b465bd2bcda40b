import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import { lastRanWith, missedConfiguration, startedRelease } from './config-snapshots.js';

let dir: string;
let store: SqliteStore;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-config-snapshots-'));
  store = SqliteStore.open(path.join(dir, 'ferry.db'));
  await store.migrate();
  await store.hosts.create({ id: 'host_a', name: 'qa-1', env: 'qa', roles: ['web'], vars: {} });
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

let clock = Date.parse('2026-11-03T00:00:00.000Z');

/**
 * Records an install of web@`version` on qa-1 that its host ran through `steps`
 * (each ok unless named in `failed`) and ended in `state`, sent with COLOUR=`colour`.
 */
async function ran(
  id: string,
  version: number,
  colour: string,
  steps: string[],
  end: { state: 'succeeded' | 'failed' | 'skipped'; failed?: string },
): Promise<void> {
  await store.installs.create({
    id,
    hostId: 'host_a',
    app: 'web',
    version,
    createdBy: 'admin',
    deploymentId: null,
    state: 'pending',
  });
  await store.installs.saveSnapshots([
    { installId: id, snapshot: { vars: { COLOUR: colour }, secrets: [] } },
  ]);
  for (const step of steps) {
    const at = new Date((clock += 10)).toISOString();
    await store.installs.recordStep(id, { kind: 'started', step, at });
    const ok = step !== end.failed;
    await store.installs.recordStep(id, {
      kind: 'finished',
      step,
      ok,
      exitCode: null,
      durationMs: 1,
      error: ok ? null : 'it failed',
      at,
    });
  }
  if (end.state !== 'skipped') {
    await store.installs.finish(id, {
      ok: end.state === 'succeeded',
      rolledBack: false,
      error: end.state === 'succeeded' ? null : 'it failed',
      at: new Date((clock += 10)).toISOString(),
    });
  } else {
    await store.installs.mark(id, { state: 'skipped', error: 'offline' }, ['pending']);
  }
  // Installs are told apart by when they were made.
  await new Promise((resolve) => setTimeout(resolve, 5));
}

const FRESH = ['prepare', 'fetch', 'verify', 'unpack', 'link-shared', 'switch', 'start', 'health'];

describe('the configuration a release last ran with on a host', () => {
  it('is that of the newest install that started it, not one that failed before switching to it', async () => {
    await ran('ins_1', 1, 'a', FRESH, { state: 'succeeded' });
    expect(await lastRanWith(store, 'web', 1, 'host_a')).toEqual({
      vars: { COLOUR: 'a' },
      secrets: [],
    });
    // Failed before the switch: the host never started v1 with b.
    await ran('ins_2', 1, 'b', ['prepare'], { state: 'failed', failed: 'prepare' });
    expect((await lastRanWith(store, 'web', 1, 'host_a'))?.vars).toEqual({ COLOUR: 'a' });
    // Installed again with c, which failed its health check: v1 last ran with c.
    await ran('ins_3', 1, 'c', ['prepare', 'start', 'health'], {
      state: 'failed',
      failed: 'health',
    });
    expect((await lastRanWith(store, 'web', 1, 'host_a'))?.vars).toEqual({ COLOUR: 'c' });
    // Another release's installs are not this one's.
    await ran('ins_4', 2, 'd', FRESH, { state: 'succeeded' });
    expect((await lastRanWith(store, 'web', 1, 'host_a'))?.vars).toEqual({ COLOUR: 'c' });
    expect(await lastRanWith(store, 'web', 3, 'host_a')).toBeUndefined();
  });

  it('is that of the install that started it last on the host, whatever the order they were made in', async () => {
    // Made first, run last: its host was away, and ran it after the second one.
    for (const [id, colour] of [
      ['ins_away', 'early'],
      ['ins_next', 'late'],
    ] as const) {
      await store.installs.create({
        id,
        hostId: 'host_a',
        app: 'web',
        version: 1,
        createdBy: 'admin',
        deploymentId: null,
        state: 'queued',
      });
      await store.installs.saveSnapshots([
        { installId: id, snapshot: { vars: { COLOUR: colour }, secrets: [] } },
      ]);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    for (const id of ['ins_next', 'ins_away']) {
      for (const step of FRESH) {
        const at = new Date((clock += 10)).toISOString();
        await store.installs.recordStep(id, { kind: 'started', step, at });
        await store.installs.recordStep(id, {
          kind: 'finished',
          step,
          ok: true,
          exitCode: null,
          durationMs: 1,
          error: null,
          at,
        });
      }
      await store.installs.finish(id, {
        ok: true,
        rolledBack: false,
        error: null,
        at: new Date((clock += 10)).toISOString(),
      });
    }
    // The host's release keeps the snapshot ins_away wrote, its switch being the later.
    expect((await lastRanWith(store, 'web', 1, 'host_a'))?.vars).toEqual({ COLOUR: 'early' });
  });

  it('counts an install as starting its release once it switched to it or started it', () => {
    const step = (name: string, state: 'succeeded' | 'failed') => ({
      step: name,
      state,
      exitCode: null,
      durationMs: 1,
      error: null,
      startedAt: '2026-11-03T00:00:00.000Z',
      finishedAt: '2026-11-03T00:00:00.000Z',
    });
    expect(startedRelease({ state: 'succeeded', steps: [] })).toBe(true);
    expect(startedRelease({ state: 'failed', steps: [step('install', 'failed')] })).toBe(false);
    expect(startedRelease({ state: 'failed', steps: [step('switch', 'failed')] })).toBe(false);
    expect(startedRelease({ state: 'failed', steps: [step('switch', 'succeeded')] })).toBe(true);
    expect(startedRelease({ state: 'failed', steps: [step('before-start', 'failed')] })).toBe(true);
    // Going back to the previous release is not starting this one.
    expect(
      startedRelease({ state: 'failed', steps: [step('restart-previous', 'succeeded')] }),
    ).toBe(false);
  });

  it('is missed by a host its deployment gave up on, until it runs an install of it', async () => {
    await ran('ins_1', 1, 'a', FRESH, { state: 'succeeded' });
    await store.deployments.create(
      {
        id: 'dep_1',
        app: 'web',
        version: 1,
        env: 'qa',
        kind: 'deploy',
        strategy: { batch: 1, maxFailures: 0, rollbackOnFailure: false, offlineTimeout: '1m' },
        fromVersion: 1,
        refreshVars: true,
        createdBy: 'admin',
        triggeredBy: null,
        state: 'running',
      },
      [
        {
          id: 'ins_2',
          hostId: 'host_a',
          app: 'web',
          version: 1,
          createdBy: 'admin',
          deploymentId: 'dep_1',
          purpose: 'deploy',
          state: 'pending',
        },
      ],
      {
        lock: false,
        snapshots: [{ installId: 'ins_2', snapshot: { vars: { COLOUR: 'b' }, secrets: [] } }],
      },
    );
    expect(await missedConfiguration(store, 'dep_1', 'web', 1, 'host_a')).toBe(false);
    await store.installs.mark('ins_2', { state: 'skipped', error: 'offline' }, ['pending']);
    expect(await missedConfiguration(store, 'dep_1', 'web', 1, 'host_a')).toBe(true);
  });
});
