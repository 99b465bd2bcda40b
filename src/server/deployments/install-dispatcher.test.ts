import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BundleDetail, HostRecord } from '../../protocol/api.js';
import type { InstallJob } from '../../protocol/messages.js';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import type { ServerTransport } from '../../transport/transport.js';
import { VariableService } from '../variable-service.js';
import { InstallDispatcher } from './install-dispatcher.js';

const bundle: BundleDetail = {
  app: 'web',
  version: 2,
  label: null,
  commit: null,
  dirty: null,
  sha256: 'a'.repeat(64),
  size: 10,
  fileCount: 1,
  createdAt: '2026-11-03T00:00:00.000Z',
  pushedAt: '2026-11-03T00:00:00.000Z',
  pushedBy: 'dev',
  signatures: [],
  manifest: { role: 'web', service: { command: 'node server.js' } },
};

let dir: string;
let store: SqliteStore;
let sent: InstallJob[];
let dispatcher: InstallDispatcher;
let host: HostRecord;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-dispatcher-'));
  store = SqliteStore.open(path.join(dir, 'ferry.db'));
  await store.migrate();
  sent = [];
  const transport: ServerTransport = {
    send: (_hostId, job) => {
      sent.push(job);
      return Promise.resolve();
    },
    onEvent: () => undefined,
    onPresence: () => undefined,
    connectedHosts: () => [],
    disconnect: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
  dispatcher = new InstallDispatcher(store, transport, new VariableService(store));
  host = await store.hosts.create({
    id: 'host_a',
    name: 'qa-1',
    env: 'qa',
    roles: ['web'],
    vars: {},
  });
  await store.deployments.create(
    {
      id: 'dep_1',
      app: 'web',
      version: 2,
      env: 'qa',
      kind: 'deploy',
      strategy: { batch: 1, maxFailures: 0, rollbackOnFailure: true, offlineTimeout: '5m' },
      fromVersion: 1,
      createdBy: 'admin',
      state: 'running',
    },
    [
      {
        id: 'ins_a',
        hostId: 'host_a',
        app: 'web',
        version: 2,
        createdBy: 'admin',
        deploymentId: 'dep_1',
        purpose: 'deploy',
        batch: 0,
        fromVersion: 1,
        state: 'pending',
      },
    ],
    { lock: true },
  );
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('InstallDispatcher', () => {
  it('sends a planned install of a deployment under way', async () => {
    await dispatcher.send((await store.installs.get('ins_a'))!, bundle, host);
    expect(sent.map((j) => j.installId)).toEqual(['ins_a']);
    expect((await store.installs.get('ins_a'))?.state).toBe('queued');
  });

  it('sends nothing for an install read before its deployment was cancelled, and cancels it', async () => {
    // A tick read the install while the deployment ran; a person cancels before it is sent.
    const read = (await store.installs.get('ins_a'))!;
    await store.deployments.update('dep_1', { state: 'cancelled', error: 'cancelled by admin' });
    await dispatcher.send(read, bundle, host);
    expect(sent).toEqual([]);
    expect(await store.installs.get('ins_a')).toMatchObject({
      state: 'cancelled',
      sentAt: null,
      error: 'the deployment was cancelled: cancelled by admin',
    });
  });
});
