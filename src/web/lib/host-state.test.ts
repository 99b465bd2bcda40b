import { describe, expect, it } from 'vitest';
import type { EnvironmentStatus, HostStatus } from '../../protocol/deployment-api.js';
import { countHostStates, describeCounts, describeHost, hostState } from './host-state.js';

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
