import { describe, expect, it } from 'vitest';
import type { EnvironmentStatus, HostStatus } from '../../protocol/deployment-api.js';
import {
  countHostStates,
  describeCounts,
  describeHost,
  hostState,
  serviceHealthText,
} from './host-state.js';

function host(overrides: Partial<HostStatus> = {}): HostStatus {
  return {
    host: 'qa-1',
    connected: true,
    version: 13,
    health: 'ok',
    lastInstall: { id: 'ins_1', version: 13, state: 'succeeded' },
    ...overrides,
  };
}

describe('hostState', () => {
  it('is ok on the desired release and healthy', () => {
    expect(hostState(host(), 13)).toBe('ok');
  });

  it('is behind on another release, or on none', () => {
    expect(hostState(host({ version: 12 }), 13)).toBe('behind');
    expect(hostState(host({ version: null, lastInstall: null }), 13)).toBe('behind');
  });

  it('is failed when its last install failed or its health check fails', () => {
    expect(
      hostState(host({ version: 12, lastInstall: { id: 'i', version: 13, state: 'failed' } }), 13),
    ).toBe('failed');
    expect(hostState(host({ health: 'failing' }), 13)).toBe('failed');
  });

  it('is deploying while an install is open', () => {
    for (const state of ['pending', 'queued', 'running'] as const) {
      expect(
        hostState(host({ version: 12, lastInstall: { id: 'i', version: 13, state } }), 13),
      ).toBe('deploying');
    }
  });

  it('is away when its agent is not connected, whatever it said last', () => {
    expect(hostState(host({ connected: false, health: 'offline' }), 13)).toBe('away');
    expect(
      hostState(
        host({ connected: false, lastInstall: { id: 'i', version: 13, state: 'failed' } }),
        13,
      ),
    ).toBe('away');
  });

  it('is ok with no desired release yet', () => {
    expect(hostState(host({ version: null, lastInstall: null }), null)).toBe('ok');
  });
});

describe('continuous health', () => {
  const service = (
    fields: Partial<NonNullable<HostStatus['service']>> = {},
  ): NonNullable<HostStatus['service']> => ({
    state: 'healthy',
    version: 13,
    since: '2026-12-06T14:02:31.000Z',
    answer: null,
    restarts: 0,
    at: '2026-12-06T14:02:31.500Z',
    ...fields,
  });
  const now = new Date('2026-12-06T15:00:00Z');

  it('a failing or stopped service makes the host failed; a healthy one changes nothing', () => {
    expect(hostState(host({ service: service() }), 13)).toBe('ok');
    expect(hostState(host({ service: service({ state: 'failing' }) }), 13)).toBe('failed');
    expect(hostState(host({ service: service({ state: 'stopped' }) }), 13)).toBe('failed');
    expect(hostState(host({ service: null }), 13)).toBe('ok');
  });

  it('says since when (the date too when not today) and the restarts in the last hour', () => {
    expect(serviceHealthText(service(), now)).toBe('healthy since 14:02 UTC');
    expect(serviceHealthText(service({ state: 'failing', restarts: 3 }), now)).toBe(
      'failing since 14:02 UTC (3 restarts in the last hour)',
    );
    expect(serviceHealthText(service({ restarts: 1 }), new Date('2026-12-07T01:00:00Z'))).toBe(
      'healthy since 2026-12-06 14:02 UTC (1 restart in the last hour)',
    );
  });
});

describe('counts and words', () => {
  it('count an environment and say it in words, the states with hosts only', () => {
    const env: EnvironmentStatus = {
      env: 'qa',
      desired: {
        version: 13,
        deploymentId: 'dep_1',
        since: '2025-01-01T00:00:00Z',
        verdict: 'pending',
      },
      active: null,
      hosts: [
        ...Array.from({ length: 148 }, (_, i) => host({ host: `qa-${i}` })),
        host({ host: 'qa-bad', lastInstall: { id: 'i', version: 13, state: 'failed' } }),
        host({ host: 'qa-off', connected: false }),
      ],
    };
    const counts = countHostStates(env);
    expect(counts).toEqual({ ok: 148, deploying: 0, failed: 1, behind: 0, away: 1 });
    expect(describeCounts(counts)).toBe('148 ok · 1 failed · 1 away');
    expect(describeCounts({ ok: 0, deploying: 0, failed: 0, behind: 0, away: 0 })).toBe('no hosts');
  });

  it('describe one host for its title', () => {
    expect(
      describeHost(
        host({ host: 'qa-3', version: 12, lastInstall: { id: 'i', version: 13, state: 'failed' } }),
        13,
      ),
    ).toBe('qa-3: failed — runs v12, desired v13, last install v13 failed');
  });
});
