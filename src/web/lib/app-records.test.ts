import { describe, expect, it } from 'vitest';
import type { HistoryEntry } from '../../protocol/deployment-api.js';
import {
  hostPlan,
  promotionTarget,
  rollbackVersions,
  verdictsByVersion,
  versionsBeyondHistory,
} from './app-records.js';

const ENVS = [{ name: 'dev' }, { name: 'qa' }, { name: 'prod' }];

function verdictLine(version: number, detail: string): HistoryEntry {
  return {
    at: '2025-01-01T00:00:00Z',
    by: 'qa-person',
    type: 'verdict',
    app: 'cart',
    version,
    env: null,
    detail,
    note: null,
    deploymentId: null,
    triggeredBy: null,
  };
}

describe('verdictsByVersion', () => {
  it('takes the newest verdict line of each version', () => {
    const verdicts = verdictsByVersion([
      verdictLine(13, 'failed'),
      verdictLine(12, 'passed'),
      verdictLine(13, 'passed'),
    ]);
    expect(verdicts.get(13)).toBe('failed');
    expect(verdicts.get(12)).toBe('passed');
    expect(verdicts.has(11)).toBe(false);
  });
});

describe('versionsBeyondHistory', () => {
  it('asks for none when the history is whole, else for the versions it does not tell', () => {
    const history = [verdictLine(13, 'failed'), verdictLine(12, 'passed')];
    expect(versionsBeyondHistory(history, true, [13, 12, 11, 10])).toEqual([]);
    // Cut at its limit: 11 and 10 may have been marked before its oldest line.
    expect(versionsBeyondHistory(history, false, [13, 12, 11, 10])).toEqual([11, 10]);
  });
});

describe('promotionTarget', () => {
  it('goes to the environment after the last one where the bundle landed', () => {
    const deployments = [
      { version: 13, env: 'qa', state: 'succeeded' as const },
      { version: 13, env: 'dev', state: 'succeeded' as const },
    ];
    const status = [
      {
        env: 'qa',
        desired: { version: 13, deploymentId: 'd', since: '', verdict: 'passed' as const },
      },
    ];
    expect(promotionTarget('cart', 13, ENVS, deployments, status)).toEqual({ env: 'prod' });
  });

  it('says why when it landed nowhere, or already in the last environment', () => {
    expect(
      promotionTarget('cart', 13, ENVS, [{ version: 13, env: 'qa', state: 'failed' }], []),
    ).toEqual({
      env: null,
      reason: 'cart@13 has not succeeded in any environment yet',
    });
    expect(
      promotionTarget('cart', 13, ENVS, [{ version: 13, env: 'prod', state: 'partial' }], []),
    ).toEqual({
      env: null,
      reason: 'already in prod, the last environment',
    });
  });

  it('goes to the same environment when it runs an older version there now', () => {
    const status = [
      {
        env: 'qa',
        desired: { version: 12, deploymentId: 'd', since: '', verdict: 'passed' as const },
      },
    ];
    expect(
      promotionTarget('cart', 13, ENVS, [{ version: 13, env: 'qa', state: 'succeeded' }], status),
    ).toEqual({ env: 'qa' });
  });
});

describe('rollbackVersions and hostPlan', () => {
  it('offer the versions that landed in the environment, the one before first', () => {
    const deployments = [
      { version: 14, env: 'qa', state: 'succeeded' as const },
      { version: 13, env: 'qa', state: 'succeeded' as const },
      { version: 12, env: 'qa', state: 'succeeded' as const },
      { version: 11, env: 'qa', state: 'failed' as const },
      { version: 10, env: 'prod', state: 'succeeded' as const },
    ];
    expect(rollbackVersions('qa', 13, deployments)).toEqual([12, 14]);
  });

  it('say what happens on each host', () => {
    expect(hostPlan({ host: 'qa-1', version: 13 }, 12)).toBe('qa-1: v13 → v12');
    expect(hostPlan({ host: 'qa-2', version: 12 }, 12)).toBe('qa-2: stays on v12');
    expect(hostPlan({ host: 'qa-3', version: null }, 12)).toBe('qa-3: nothing → v12');
  });
});
