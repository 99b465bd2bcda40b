import { describe, expect, it } from 'vitest';
import type { HostRecord } from '../../protocol/api.js';
import type { AppStatus } from '../../protocol/deployment-api.js';
import { hostFactsSchema } from '../../protocol/host-facts.js';
import type { Drift } from '../../protocol/report-api.js';
import {
  driftMarks,
  driftText,
  factSummary,
  filterHosts,
  formatBytes,
  hostRows,
} from './hosts-model.js';

function host(name: string, env: string, roles: string[], os = 'Debian GNU/Linux 12'): HostRecord {
  return {
    id: `h_${name}`,
    name,
    env,
    roles,
    vars: {},
    enrolledAt: '2026-01-01T00:00:00.000Z',
    lastSeenAt: null,
    connected: true,
    facts: hostFactsSchema.parse({ factsVersion: 2, os, runtimes: { node: '20.11.1' } }),
    revokedAt: null,
  };
}

const nodeDrift: Drift = {
  env: 'qa',
  aspect: 'runtime',
  name: 'node',
  app: null,
  role: 'web',
  expected: null,
  values: [
    { value: '20.11.1', hosts: ['qa-1', 'qa-2'] },
    { value: '18.19.0', hosts: ['qa-3'] },
  ],
};
const releaseDrift: Drift = {
  env: 'qa',
  aspect: 'release',
  name: 'cart',
  app: 'cart',
  role: null,
  expected: '7',
  values: [
    { value: '6', hosts: ['qa-1', 'qa-2'] },
    { value: '7', hosts: ['qa-3'] },
  ],
};

describe('driftMarks', () => {
  it('marks the odd host of a runtime, and those off the desired release even when they are most', () => {
    const marks = driftMarks([nodeDrift, releaseDrift]);
    expect(marks.get('qa/qa-3')?.get('runtime:node')?.odd).toBe(true);
    expect(marks.get('qa/qa-1')?.get('runtime:node')?.odd).toBe(false);
    expect(marks.get('qa/qa-1')?.get('release:cart')?.odd).toBe(true);
    expect(marks.get('qa/qa-3')?.get('release:cart')?.odd).toBe(false);
    expect(marks.get('prod/qa-3')).toBeUndefined();
  });

  it('says the difference in words', () => {
    expect(driftText(nodeDrift)).toBe(
      "node differs among qa's web hosts: 20.11.1 on qa-1, qa-2; 18.19.0 on qa-3",
    );
    expect(driftText(releaseDrift)).toBe(
      "cart's release differs in qa (desired: cart@7): @6 on qa-1, qa-2; @7 on qa-3",
    );
    expect(
      driftText({
        ...nodeDrift,
        aspect: 'os',
        name: 'os',
        role: null,
        values: [{ value: null, hosts: ['x'] }],
      }),
    ).toBe('os differs in qa: (none) on x');
  });
});

describe('hostRows and filterHosts', () => {
  const status: AppStatus[] = [
    {
      app: 'cart',
      latestVersion: 7,
      environments: [
        {
          env: 'qa',
          desired: { version: 7, deploymentId: 'dep_1', since: 'x', verdict: 'pending' },
          active: null,
          hosts: [{ host: 'qa-1', connected: true, version: 7, health: 'ok', lastInstall: null }],
        },
      ],
    },
  ];
  const rows = hostRows(
    [
      host('qa-1', 'qa', ['web']),
      host('qa-2', 'qa', ['backend'], 'Alpine'),
      host('prod-1', 'prod', ['web']),
    ],
    status,
  );

  it('joins what each host runs from status', () => {
    expect(
      rows.map((r) => [r.host.name, r.apps.map((a) => `${a.app}@${a.version}/${a.desired}`)]),
    ).toEqual([
      ['qa-1', ['cart@7/7']],
      ['qa-2', []],
      ['prod-1', []],
    ]);
  });

  it('filters by environment, role and words in name, roles, OS or apps', () => {
    const names = (filter: Parameters<typeof filterHosts>[1]) =>
      filterHosts(rows, filter).map((r) => r.host.name);
    expect(names({ env: 'qa' })).toEqual(['qa-1', 'qa-2']);
    expect(names({ role: 'web' })).toEqual(['qa-1', 'prod-1']);
    expect(names({ text: 'alpine' })).toEqual(['qa-2']);
    expect(names({ text: 'cart@7 qa' })).toEqual(['qa-1']);
    expect(names({ env: 'prod', text: 'qa' })).toEqual([]);
  });
});

describe('factSummary', () => {
  it('puts the key facts in words, with a dash for what is unknown', () => {
    const facts = hostFactsSchema.parse({
      factsVersion: 2,
      os: 'Debian GNU/Linux 12',
      runtimes: { node: '20.11.1', python3: '3.11.2' },
      disks: [{ mount: '/', sizeBytes: 100 * 1024 ** 3, freeBytes: 12.5 * 1024 ** 3 }],
      memory: { totalBytes: 8 * 1024 ** 3, freeBytes: 1536 * 1024 ** 2 },
      load: [0.5, 0.25, 1],
    });
    expect(factSummary(facts)).toEqual({
      os: 'Debian GNU/Linux 12',
      node: '20.11.1',
      python: '3.11.2',
      disk: '13 GiB free of 100 GiB',
      memory: '1.5 GiB free of 8.0 GiB',
      load: '0.50 0.25 1.00',
    });
    expect(factSummary(null).node).toBe('—');
    expect(formatBytes(512)).toBe('512 B');
  });
});
