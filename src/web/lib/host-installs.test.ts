import { describe, expect, it } from 'vitest';
import type {
  AppStatus,
  DeploymentInstall,
  DeploymentRecord,
} from '../../protocol/deployment-api.js';
import { hostInstalls } from './host-installs.js';

const install = (id: string, host: string, at: string): DeploymentInstall => ({
  id,
  host,
  hostId: `h_${host}`,
  version: 3,
  purpose: 'deploy',
  batch: 0,
  state: 'failed',
  fromVersion: 2,
  rolledBack: false,
  error: null,
  step: {
    step: 'health',
    state: 'failed',
    exitCode: 1,
    durationMs: 5,
    error: null,
    startedAt: at,
    finishedAt: at,
  },
  startedAt: at,
  finishedAt: at,
});

const deployment = (id: string, installs: DeploymentInstall[]): DeploymentRecord => ({
  id,
  app: 'cart',
  version: 3,
  env: 'qa',
  kind: 'deploy',
  state: 'failed',
  strategy: { batch: 1, maxFailures: 0, rollbackOnFailure: false, offlineTimeout: '5m' },
  fromVersion: 2,
  createdBy: 'alice',
  triggeredBy: null,
  createdAt: '2026-01-01T00:00:00.000Z',
  startedAt: null,
  finishedAt: null,
  error: null,
  migratedOn: null,
  installs,
});

describe('hostInstalls', () => {
  it("lists the host's installs of the deployments newest first, and status's newest install the deployments lack", () => {
    const status: AppStatus[] = [
      {
        app: 'front',
        latestVersion: 9,
        environments: [
          {
            env: 'qa',
            desired: null,
            active: null,
            hosts: [
              {
                host: 'qa-1',
                connected: true,
                version: 9,
                health: 'ok',
                lastInstall: { id: 'inst_h', version: 9, state: 'succeeded' },
              },
              {
                host: 'qa-2',
                connected: true,
                version: 9,
                health: 'ok',
                lastInstall: { id: 'inst_x', version: 9, state: 'succeeded' },
              },
            ],
          },
        ],
      },
    ];
    const list = hostInstalls(
      'qa-1',
      [
        deployment('dep_1', [
          install('inst_1', 'qa-1', '2026-01-01T00:01:00.000Z'),
          install('inst_2', 'qa-2', '2026-01-01T00:01:00.000Z'),
        ]),
        deployment('dep_2', [install('inst_3', 'qa-1', '2026-01-02T00:01:00.000Z')]),
      ],
      status,
    );
    expect(list.map((i) => [i.id, i.app, i.deploymentId, i.step])).toEqual([
      ['inst_h', 'front', null, null],
      ['inst_3', 'cart', 'dep_2', 'health'],
      ['inst_1', 'cart', 'dep_1', 'health'],
    ]);
  });
});
