import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NewFerryEvent } from '../../protocol/events.js';
import { parseHostFacts } from '../../protocol/host-facts.js';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import type { NewInstall, Store } from '../../store/store.js';
import { eventedStore } from './evented-store.js';

/**
 * The evented store over a real store: each write that changes a bundle, a
 * verdict, a host's presence or facts, a deployment, an install or a note publishes
 * its event once it is recorded; reads and writes with no event pass through.
 */

let dir: string;
let raw: SqliteStore;
let store: Store;
let published: NewFerryEvent[];

/** What was published since the last call, as `kind` or `kind:detail`. */
function heard(): string[] {
  const kinds = published.map((e) => {
    const data = e.data as { state?: string; step?: string };
    if (e.kind === 'install.step') return `${e.kind}:${data.step}:${data.state}`;
    if (e.kind === 'install.state' || e.kind === 'deployment.state') {
      return `${e.kind}:${data.state}`;
    }
    return e.kind;
  });
  published = [];
  return kinds;
}

const install = (id: string, extra: Partial<NewInstall> = {}): NewInstall => ({
  id,
  hostId: 'host_web-1',
  app: 'web',
  version: 1,
  createdBy: 'alice',
  ...extra,
});

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-evented-'));
  raw = SqliteStore.open(path.join(dir, 'ferry.db'));
  store = eventedStore(raw, {
    publish: (event) => {
      published.push(event);
      return Promise.resolve();
    },
    notify: () => undefined,
  });
  await store.migrate();
  published = [];
  await raw.hosts.create({ id: 'host_web-1', name: 'web-1', env: 'qa', roles: ['web'], vars: {} });
});

afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('eventedStore', () => {
  it('publishes a pushed bundle once, and a verdict change with the one before', async () => {
    const bundle = {
      app: 'web',
      sha256: 'a'.repeat(64),
      size: 1,
      label: null,
      commit: null,
      dirty: null,
      fileCount: 1,
      createdAt: new Date().toISOString(),
      pushedBy: 'dev',
      manifest: {},
    };
    await store.bundles.record(bundle, () => Promise.resolve());
    await store.bundles.record(bundle, () => Promise.resolve());
    expect(heard()).toEqual(['bundle.pushed']);

    const at = new Date().toISOString();
    await store.verdicts.record({
      app: 'web',
      version: 1,
      verdict: 'passed',
      note: null,
      by: 'qa',
      at,
    });
    expect(published[0]?.data).toMatchObject({ verdict: 'passed', previous: 'pending' });
    expect(heard()).toEqual(['verdict.changed']);
  });

  it("publishes a host's presence when it changes, and each facts sample", async () => {
    const at = new Date().toISOString();
    await store.hosts.setPresence('host_web-1', true, at);
    await store.hosts.setPresence('host_web-1', true, at);
    await store.hosts.setPresence('host_web-1', false, at);
    await store.hosts.setFacts('host_web-1', parseHostFacts({ os: 'Linux' }), at);
    await store.hosts.addFactsSample(
      'host_web-1',
      { at, facts: parseHostFacts({ os: 'Linux' }) },
      { keep: 10, since: '2000-01-01T00:00:00.000Z' },
    );
    expect(heard()).toEqual(['host.connected', 'host.disconnected', 'host.facts']);
  });

  it('publishes a deployment made with its installs, and each change of its state', async () => {
    const made = await store.deployments.create(
      {
        id: 'dep_1',
        app: 'web',
        version: 1,
        env: 'qa',
        kind: 'deploy',
        state: 'running',
        strategy: { batch: 1, maxFailures: 0, rollbackOnFailure: true, offlineTimeout: '60s' },
        fromVersion: null,
        createdBy: 'alice',
      },
      [install('ins_1', { deploymentId: 'dep_1', state: 'pending' })],
      { lock: true },
    );
    expect(made.created).toBe(true);
    expect(heard()).toEqual(['deployment.created', 'install.state:pending']);

    await store.deployments.update('dep_1', { error: 'nothing that shows' });
    expect(heard()).toEqual([]);
    await store.deployments.update('dep_1', { state: 'succeeded' }, { from: ['running'] });
    await store.deployments.update('dep_1', { state: 'failed' }, { from: ['running'] });
    expect(heard()).toEqual(['deployment.state:succeeded']);
  });

  it('publishes the installs recorded with a change of a deployment (its reverts), and those a cancel moved', async () => {
    await store.deployments.create(
      {
        id: 'dep_1',
        app: 'web',
        version: 2,
        env: 'qa',
        kind: 'deploy',
        state: 'running',
        strategy: { batch: 1, maxFailures: 0, rollbackOnFailure: true, offlineTimeout: '60s' },
        fromVersion: 1,
        createdBy: 'alice',
      },
      [install('ins_1', { deploymentId: 'dep_1', version: 2, state: 'queued' })],
      { lock: true },
    );
    heard();
    // The rollout puts the host back: a revert recorded with the change of phase.
    await store.deployments.update(
      'dep_1',
      { phase: 'reverting' },
      {
        installs: [
          install('ins_r', { deploymentId: 'dep_1', purpose: 'revert', state: 'pending' }),
        ],
      },
    );
    expect(heard()).toEqual(['deployment.state:running', 'install.state:pending']);
    // A cancel moves what no host has begun, each once.
    await store.deployments.update(
      'dep_1',
      { state: 'cancelled' },
      { from: ['running'], cancelUnstarted: { error: 'cancelled by alice' } },
    );
    expect(heard().sort()).toEqual([
      'deployment.state:cancelled',
      'install.state:cancelled',
      'install.state:cancelled',
    ]);
  });

  it("publishes an install's states and its steps, never its output", async () => {
    await store.installs.create(install('ins_1'));
    await store.installs.createMany([install('ins_2'), install('ins_3')]);
    expect(heard()).toEqual([
      'install.state:queued',
      'install.state:queued',
      'install.state:queued',
    ]);

    const at = new Date().toISOString();
    await store.installs.recordStep('ins_1', { kind: 'started', step: 'fetch', at });
    await store.installs.recordStep('ins_1', {
      kind: 'output',
      step: 'fetch',
      stream: 'stdout',
      seq: 0,
      text: 'fetched\n',
    });
    await store.installs.recordStep('ins_1', {
      kind: 'finished',
      step: 'fetch',
      ok: true,
      exitCode: 0,
      durationMs: 5,
      error: null,
      at,
    });
    await store.installs.finish('ins_1', { ok: true, rolledBack: false, error: null, at });
    expect(heard()).toEqual([
      'install.step:fetch:running',
      'install.state:running',
      'install.step:fetch:succeeded',
      'install.state:succeeded',
    ]);

    expect(await store.installs.mark('ins_2', { state: 'cancelled' }, ['queued'])).toBe(true);
    expect(await store.installs.mark('ins_2', { state: 'cancelled' }, ['queued'])).toBe(false);
    expect(heard()).toEqual(['install.state:cancelled']);

    // Reads go to the store as they are.
    expect((await store.installs.list({ app: 'web' })).map((i) => i.id).sort()).toEqual([
      'ins_1',
      'ins_2',
      'ins_3',
    ]);
    expect(heard()).toEqual([]);
  });

  it('publishes each change of a note and its actions, and nothing for an action done again', async () => {
    const at = new Date().toISOString();
    const note = await store.notes.add({
      on: { kind: 'bundle', app: 'web', version: 3 },
      section: 'patch',
      impact: 'major',
      text: 'sequence already existed',
      fixedBy: null,
      at,
      by: 'alice',
    });
    expect(await store.notes.edit(note.id + 1, { impact: 'nil' }, { at, by: 'bob' })).toBe(
      undefined,
    );
    await store.notes.edit(note.id, { impact: 'blocker' }, { at, by: 'bob' });
    const action = await store.notes.addAction({
      noteId: note.id,
      owner: 'carol',
      text: 'drop it',
      at,
      by: 'alice',
    });
    await store.notes.completeAction(action!.id, { at, by: 'carol' });
    await store.notes.completeAction(action!.id, { at, by: 'dave' });
    expect(published.map((e) => [e.kind, e.app, e.data])).toEqual([
      [
        'note.changed',
        'web',
        expect.objectContaining({ change: 'added', version: 3, by: 'alice' }),
      ],
      ['note.changed', 'web', expect.objectContaining({ change: 'edited', by: 'bob' })],
      [
        'note.changed',
        'web',
        expect.objectContaining({ change: 'action-added', actionId: action!.id, by: 'alice' }),
      ],
      [
        'note.changed',
        'web',
        expect.objectContaining({ change: 'action-done', actionId: action!.id, by: 'carol' }),
      ],
    ]);
    published = [];
    await store.notes.list();
    await store.notes.listActions();
    expect(heard()).toEqual([]);
  });
});
