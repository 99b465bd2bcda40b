import { describe, expect, it } from 'vitest';
import type { VerdictMarkResult } from '../../protocol/api.js';
import { markExitCode, markLines } from './mark.js';

const result: VerdictMarkResult = {
  bundle: 'cart@12',
  verdict: 'failed',
  previous: 'passed',
  by: 'alice',
  at: '2026-05-01T10:00:00.000Z',
  note: null,
  liveOn: [
    { host: 'qa-1', env: 'qa' },
    { host: 'qa-2', env: 'qa' },
  ],
  liveIn: ['qa'],
  deployments: [],
};

describe('markLines', () => {
  it('names the hosts a failed bundle is live on, and how to roll those environments back', () => {
    expect(markLines(result)).toEqual([
      'cart@12: failed (was passed), by alice',
      'live on: qa-1 (qa), qa-2 (qa)',
      'it is the desired release in qa: roll back with `ferry mark cart@12 failed --rollback` or `ferry rollback cart --env qa`',
    ]);
  });

  it('names the rollbacks it started instead of offering them', () => {
    const started = {
      ...result,
      deployments: [
        { env: 'qa', id: 'dep_1', version: 11, kind: 'rollback', state: 'running', error: null },
      ],
    };
    expect(markLines(started)).toEqual([
      'cart@12: failed (was passed), by alice',
      'live on: qa-1 (qa), qa-2 (qa)',
      'rollback to qa: dep_1 (running); follow it: ferry deployment dep_1 --follow',
    ]);
  });

  it('prints one line when the bundle is live nowhere', () => {
    expect(
      markLines({ ...result, verdict: 'passed', previous: 'pending', liveOn: [], liveIn: [] }),
    ).toEqual(['cart@12: passed (was pending), by alice']);
  });

  it('says where a passed bundle is live, with no rollback hint', () => {
    expect(markLines({ ...result, verdict: 'passed' })).toEqual([
      'cart@12: passed (was passed), by alice',
      'live on: qa-1 (qa), qa-2 (qa)',
    ]);
  });
});

describe('markExitCode', () => {
  const rollback = (env: string, id: string | null) => ({
    env,
    id,
    version: id === null ? null : 11,
    kind: 'rollback',
    state: id === null ? null : 'running',
    error: id === null ? 'migrations ran since cart@11 in qa: pass --yes' : null,
  });

  it('fails when a rollback that was asked for was refused', () => {
    expect(markExitCode({ ...result, deployments: [rollback('qa', null)] }, true)).toBe(1);
  });

  it('fails when an environment where the bundle is live got no rollback', () => {
    const twoEnvs = { ...result, liveIn: ['qa', 'prod'], deployments: [rollback('qa', 'dep_1')] };
    expect(markExitCode(twoEnvs, true)).toBe(1);
  });

  it('succeeds when every live environment is rolling back, or no rollback was asked', () => {
    expect(markExitCode({ ...result, deployments: [rollback('qa', 'dep_1')] }, true)).toBe(0);
    expect(markExitCode({ ...result, deployments: [rollback('qa', null)] }, false)).toBe(0);
    expect(markExitCode({ ...result, verdict: 'passed' }, true)).toBe(0);
  });
});
