import { describe, expect, it } from 'vitest';
import type { HostRecord } from '../../protocol/api.js';
import { parseHostFacts } from '../../protocol/host-facts.js';
import { batchSize, planInstalls, reportedVersion, targetHosts } from './rollout-plan.js';

function host(name: string, env: string, roles: string[], current?: number): HostRecord {
  return {
    id: `host_${name}`,
    name,
    env,
    roles,
    vars: {},
    enrolledAt: '2026-11-01T00:00:00.000Z',
    lastSeenAt: null,
    connected: true,
    revokedAt: null,
    facts: current === undefined ? null : parseHostFacts({ apps: { web: { current } } }),
  };
}

describe('batchSize', () => {
  it('takes a count as it is, and a percentage of the hosts rounded up, never below one', () => {
    expect(batchSize({ batch: 2 }, 10)).toBe(2);
    expect(batchSize({ batch: '25%' }, 6)).toBe(2);
    expect(batchSize({ batch: '50%' }, 4)).toBe(2);
    expect(batchSize({ batch: '100%' }, 3)).toBe(3);
    expect(batchSize({ batch: '10%' }, 3)).toBe(1);
    expect(batchSize({ batch: '10%' }, 0)).toBe(1);
  });
});

describe('planInstalls', () => {
  it('plans one install per host with the role, in name order, in batches, remembering what each ran', () => {
    const hosts = targetHosts(
      [
        host('prod-3', 'prod', ['web'], 4),
        host('prod-1', 'prod', ['web', 'worker'], 4),
        host('prod-2', 'prod', ['web']),
        host('prod-9', 'prod', ['worker']),
        host('qa-1', 'qa', ['web'], 5),
      ],
      'prod',
      'web',
    );
    expect(hosts.map((h) => h.name)).toEqual(['prod-1', 'prod-2', 'prod-3']);
    const planned = planInstalls(
      { id: 'dep_1', app: 'web', version: 5, createdBy: 'alice' },
      { batch: '50%' },
      hosts,
    );
    expect(planned.map((i) => [i.hostId, i.batch, i.fromVersion, i.state, i.purpose])).toEqual([
      ['host_prod-1', 0, 4, 'pending', 'deploy'],
      ['host_prod-2', 0, null, 'pending', 'deploy'],
      ['host_prod-3', 1, 4, 'pending', 'deploy'],
    ]);
    expect(new Set(planned.map((i) => i.id)).size).toBe(3);
  });

  it("reads a host's reported release from its facts: none without facts or without the app", () => {
    expect(reportedVersion(host('a', 'qa', ['web'], 3), 'web')).toBe(3);
    expect(reportedVersion(host('a', 'qa', ['web'], 3), 'api')).toBeNull();
    expect(reportedVersion(host('a', 'qa', ['web']), 'web')).toBeNull();
  });
});
