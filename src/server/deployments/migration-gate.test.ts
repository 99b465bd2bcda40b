import { describe, expect, it } from 'vitest';
import type { StoredInstall } from '../../store/store.js';
import {
  migrated,
  migratedOn,
  migrationGate,
  migratingInstall,
  runsMigrations,
} from './migration-gate.js';

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

const step = (name: string, state: 'running' | 'succeeded' | 'failed') => ({
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

  it('looks across the whole wave: with every host of the first batch away, the next batch migrates', () => {
    const wave = [
      install('web-3', { batch: 1 }),
      install('web-1', { batch: 0, state: 'skipped' }),
      install('web-2', { batch: 0, state: 'skipped' }),
      install('web-0', { batch: 1 }),
    ];
    // In batch order, then name order.
    expect(migratingInstall(wave)?.host).toBe('web-0');
    expect(migrationGate(wave, 'web@2')).toMatchObject({
      next: 'migrate',
      migrator: { host: 'web-0' },
    });
  });

  it('never hands the migrations on once a host began them, even if it went away since', () => {
    const away = install('web-1', {
      state: 'skipped',
      error: 'web-1 was offline for more than 5m',
      steps: [step('install', 'succeeded'), step('migrate', 'running')],
    });
    const wave = [away, install('web-2'), install('web-3', { batch: 1 })];
    expect(migratingInstall(wave)?.host).toBe('web-1');
    const gate = migrationGate(wave, 'web@2');
    expect(gate.next).toBe('fail');
    expect(gate.next === 'fail' && gate.reason).toBe(
      'web-1 went away during the migrations of web@2 (web-1 was offline for more than 5m): ' +
        'they are not handed to another host, as they may have run in part; ' +
        'every other host stays on its release',
    );
    // Still running there: the deployment waits for it.
    const running = { ...away, state: 'running' as const };
    expect(migrationGate([running, install('web-2')], 'web@2')).toMatchObject({
      next: 'migrate',
      migrator: { host: 'web-1' },
    });
  });

  it('never hands the migrations on from a host that began its job, though not yet the migrations', () => {
    // Given up on while it installed: its agent runs the job to its end, migrations too.
    const away = install('web-1', {
      state: 'skipped',
      error: 'web-1 was offline for more than 5m',
      sentAt: '2026-01-01T00:00:00.000Z',
      steps: [step('install', 'running')],
    });
    const wave = [away, install('web-2')];
    expect(migratingInstall(wave)?.host).toBe('web-1');
    expect(migrationGate(wave, 'web@2')).toMatchObject({
      next: 'fail',
      reason:
        'web-1 went away while installing web@2, before its migrations (web-1 was offline for more than 5m): ' +
        'they are not handed to another host, as it may still run them; every other host stays on its release',
    });
  });

  it('never hands the migrations on from a host told to go ahead, though it reported no step yet', () => {
    // The server answered "wanted" (recorded as its start), then gave up on the
    // host before its first step report came: its agent runs the job, migrations too.
    const told = install('web-1', {
      state: 'skipped',
      error: 'web-1 was offline for more than 5m',
      sentAt: '2026-01-01T00:00:00.000Z',
      startedAt: '2026-01-01T00:00:01.000Z',
    });
    const wave = [told, install('web-2')];
    expect(migratingInstall(wave)?.host).toBe('web-1');
    expect(migrationGate(wave, 'web@2')).toMatchObject({
      next: 'fail',
      migrator: { host: 'web-1' },
    });
    // One that was never told to go ahead hands them on: it declines the job when it asks.
    const never = { ...told, startedAt: null };
    expect(migratingInstall([never, install('web-2')])?.host).toBe('web-2');
  });

  it('lets the others go once the migrator ended with its migrations done, and fails the deployment when they were not', () => {
    const checking = install('web-1', { state: 'running', steps: [step('migrate', 'succeeded')] });
    // Still alone while its health check runs.
    expect(migrationGate([checking, install('web-2')], 'web@2').next).toBe('migrate');
    for (const state of ['succeeded', 'failed', 'skipped'] as const) {
      expect(migrationGate([{ ...checking, state }, install('web-2')], 'web@2')).toMatchObject({
        next: 'proceed',
        migrator: { host: 'web-1' },
      });
    }
    const failed = install('web-1', {
      state: 'failed',
      error: 'exit 3',
      steps: [step('migrate', 'failed')],
    });
    expect(migrationGate([failed, install('web-2')], 'web@2')).toEqual({
      next: 'fail',
      migrator: failed,
      reason: 'the migrations of web@2 failed on web-1: exit 3; every host stays on its release',
    });
    const before = install('web-1', { state: 'failed', error: 'npm ci failed' });
    expect(migrationGate([before], 'web@2')).toMatchObject({
      next: 'fail',
      reason:
        'web-1 failed before running the migrations of web@2: npm ci failed; every host stays on its release',
    });
    // No host was there to run them: no host may take a release whose data was
    // never migrated (a host that returns would catch up to it).
    expect(migrationGate([install('web-1', { state: 'skipped' })], 'web@2')).toEqual({
      next: 'fail',
      migrator: undefined,
      reason: 'no host was there to run the migrations of web@2: every host stays on its release',
    });
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
