import { describe, expect, it } from 'vitest';
import type { VerdictMarkResult } from '../../protocol/api.js';
import { markLines } from './mark.js';

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
};

describe('markLines', () => {
  it('names the hosts a failed bundle is live on, without promising a rollback that does not exist yet', () => {
    expect(markLines(result)).toEqual([
      'cart@12: failed (was passed), by alice',
      'live on: qa-1 (qa), qa-2 (qa) — roll back with `ferry rollback` once deployments exist',
    ]);
  });

  it('prints one line when the bundle is live nowhere', () => {
    expect(markLines({ ...result, verdict: 'passed', previous: 'pending', liveOn: [] })).toEqual([
      'cart@12: passed (was pending), by alice',
    ]);
  });

  it('says where a passed bundle is live, with no rollback hint', () => {
    expect(markLines({ ...result, verdict: 'passed' })).toEqual([
      'cart@12: passed (was passed), by alice',
      'live on: qa-1 (qa), qa-2 (qa)',
    ]);
  });
});
