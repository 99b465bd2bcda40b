import { describe, expect, it } from 'vitest';
import type { AppStatus } from '../../protocol/deployment-api.js';
import { serviceHealth, statusLines } from './status.js';

const service = {
  state: 'failing' as const,
  version: 12,
  since: '2026-12-06T14:02:31.000Z',
  answer: 'HTTP 503 from http://127.0.0.1:8080/health, expected 200: "db down"',
  restarts: 3,
  at: '2026-12-06T14:02:32.000Z',
};

describe('ferry status: continuous health', () => {
  it('says the state, since when (UTC; the date when not today) and the restarts', () => {
    const today = new Date('2026-12-06T20:00:00Z');
    expect(serviceHealth(service, today)).toBe(
      '  failing since 14:02 (3 restarts in the last hour)',
    );
    expect(serviceHealth({ ...service, state: 'healthy', restarts: 1 }, today)).toBe(
      '  healthy since 14:02 (1 restart in the last hour)',
    );
    expect(serviceHealth({ ...service, restarts: 0 }, new Date('2026-12-07T01:00:00Z'))).toBe(
      '  failing since 2026-12-06 14:02',
    );
    expect(serviceHealth(null)).toBe('');
    expect(serviceHealth(undefined)).toBe('');
  });

  it("puts a failing check's answer on the line below the host", () => {
    const apps: AppStatus[] = [
      {
        app: 'cart',
        latestVersion: 12,
        environments: [
          {
            env: 'qa',
            desired: null,
            active: null,
            hosts: [
              {
                host: 'qa-1',
                connected: true,
                version: 12,
                health: 'ok',
                lastInstall: null,
                service,
              },
            ],
          },
        ],
      },
    ];
    const lines = statusLines(apps);
    const at = lines.findIndex((l) => l.startsWith('    qa-1  @12  ok  failing since '));
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 1]).toBe(`      ${service.answer}`);
  });
});

describe('ferry status: the deployment under way', () => {
  const withActive = (state: 'running' | 'baking' | 'paused' | 'pending'): AppStatus[] => [
    {
      app: 'cart',
      latestVersion: 13,
      environments: [
        {
          env: 'prod',
          desired: { version: 12, deploymentId: 'dep_a', since: service.since, verdict: 'passed' },
          active: { id: 'dep_b', version: 13, state },
          hosts: [],
        },
      ],
    },
  ];

  it('names it by its state, and says what ends a pause', () => {
    expect(statusLines(withActive('running'))[1]).toBe(
      '  prod: cart@12 (passed); deploying @13 (dep_b)',
    );
    expect(statusLines(withActive('pending'))[1]).toBe(
      '  prod: cart@12 (passed); queued @13 (dep_b)',
    );
    expect(statusLines(withActive('baking'))[1]).toBe(
      '  prod: cart@12 (passed); baking @13 (dep_b)',
    );
    const paused = statusLines(withActive('paused'));
    expect(paused[1]).toBe('  prod: cart@12 (passed); paused @13 (dep_b)');
    expect(paused[2]).toBe(
      '    paused after a bad bake: run ferry deployments resume dep_b or ferry deployments rollback dep_b',
    );
    expect(statusLines(withActive('baking'))[2]).toBe("    (no host with the app's role)");
  });
});
