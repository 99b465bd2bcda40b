import { describe, expect, it } from 'vitest';
import type { StoredInstall } from '../../store/store.js';
import { migrated, migratedOn, migratingInstall, runsMigrations } from './migration-gate.js';

function install(host: string, fields: Partial<StoredInstall> = {}): StoredInstall {
  return {
    id: `ins_${host}`,
    hostId: `h_${host}`,
    host,
    app: 'cart',
    version: 2,
    state: 'pending',
    rolledBack: false,
    error: null,
    deploymentId: 'dep_1',
    purpose: 'deploy',
    fromVersion: 1,
    createdBy: 'admin',
    createdAt: '2026-01-01T00:00:00.000Z',
    startedAt: null,
    finishedAt: null,
    steps: [],
    batch: 0,
    sentAt: null,
    ...fields,
  };
}

const step = (name: string, state: 'succeeded' | 'failed') => ({
  step: name,
  state,
  exitCode: null,
  durationMs: 1,
  error: null,
  startedAt: '2026-01-01T00:00:00.000Z',
  finishedAt: '2026-01-01T00:00:01.000Z',
});

describe('the migration gate', () => {
  it('migrates on a rollout of a bundle with migrate commands, never on a rollback or a revert', () => {
    const bundle = { manifest: { migrate: ['node migrate.js'] } };
    expect(runsMigrations({ kind: 'deploy', phase: 'rollout' }, bundle)).toBe(true);
    expect(runsMigrations({ kind: 'auto-promote', phase: 'rollout' }, bundle)).toBe(true);
    expect(runsMigrations({ kind: 'rollback', phase: 'rollout' }, bundle)).toBe(false);
    expect(runsMigrations({ kind: 'deploy', phase: 'reverting' }, bundle)).toBe(false);
    expect(runsMigrations({ kind: 'deploy', phase: 'rollout' }, { manifest: {} })).toBe(false);
  });

  it('picks the first host by name of the first batch, passing over those skipped or cancelled', () => {
    const batch = [install('web-2'), install('web-1', { state: 'skipped' }), install('web-3')];
    expect(migratingInstall(batch)?.host).toBe('web-2');
    expect(migratingInstall([install('a', { state: 'cancelled' })])).toBeUndefined();
  });

  it('tells from the steps whether and where migrations ran', () => {
    const ran = install('web-1', { state: 'failed', steps: [step('migrate', 'succeeded')] });
    const failed = install('web-2', { state: 'failed', steps: [step('migrate', 'failed')] });
    expect([migrated(ran), migrated(failed), migrated(install('web-3'))]).toEqual([
      true,
      false,
      false,
    ]);
    expect(migratedOn([failed, ran])).toBe('web-1');
    expect(migratedOn([install('web-1', { purpose: 'revert', steps: ran.steps })])).toBeNull();
  });
});
