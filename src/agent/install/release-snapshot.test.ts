import { mkdtemp, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, type InstallJob } from '../../protocol/messages.js';
import {
  RELEASE_SNAPSHOT_FILE,
  readReleaseSnapshot,
  snapshotOf,
  writeReleaseSnapshot,
} from './release-snapshot.js';

const job: InstallJob = {
  v: PROTOCOL_VERSION,
  id: 'ins_1',
  type: 'install',
  installId: 'ins_1',
  app: 'cart',
  version: 3,
  sha256: '0'.repeat(64),
  size: 1,
  manifest: {},
  vars: { REDIS_HOST: 'a', OTHER_SECRET: 'x', TOKEN: 't' },
  secrets: ['OTHER_SECRET', 'TOKEN'],
  deploymentId: 'dep_1',
};

describe('release snapshot', () => {
  it('keeps only the variables the release uses, and which of them are secret', () => {
    const snapshot = snapshotOf(job, ['REDIS_HOST', 'TOKEN', 'UNSET']);
    expect(snapshot.vars).toEqual({ REDIS_HOST: 'a', TOKEN: 't' });
    expect(snapshot.secrets).toEqual(['TOKEN']);
    expect(snapshot.deploymentId).toBe('dep_1');
  });

  it('is written mode 0600 and read back; a release without one has none', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-snapshot-'));
    expect(await readReleaseSnapshot(dir)).toBeNull();
    await writeReleaseSnapshot(dir, snapshotOf(job, ['TOKEN']));
    expect((await stat(path.join(dir, RELEASE_SNAPSHOT_FILE))).mode & 0o777).toBe(0o600);
    expect((await readReleaseSnapshot(dir))?.vars).toEqual({ TOKEN: 't' });
  });

  it('refuses a snapshot it cannot read instead of guessing', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-snapshot-'));
    await writeFile(path.join(dir, RELEASE_SNAPSHOT_FILE), '{"vars": 1}');
    await expect(readReleaseSnapshot(dir)).rejects.toThrow();
  });
});
