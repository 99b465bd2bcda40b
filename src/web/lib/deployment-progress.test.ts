import { describe, expect, it } from 'vitest';
import type { FerryEvent } from '../../protocol/events.js';
import { applyEvent, countProgress, type DeploymentProgress } from './deployment-progress.js';

const progress: DeploymentProgress = {
  id: 'dep_1',
  state: 'running',
  installs: new Map([
    ['ins_1', 'succeeded'],
    ['ins_2', 'running'],
    ['ins_3', 'queued'],
  ]),
};

function installEvent(deploymentId: string, installId: string, state: string): FerryEvent {
  return {
    id: '7',
    kind: 'install.state',
    at: '2025-01-01T00:00:00Z',
    app: 'cart',
    env: 'qa',
    deploymentId,
    hostId: 'h',
    data: {
      installId,
      host: 'qa-2',
      version: 13,
      purpose: 'deploy',
      batch: 1,
      fromVersion: 12,
      state,
      rolledBack: false,
      error: null,
    },
  };
}

describe('deployment progress', () => {
  it('counts installs done, failed and in all', () => {
    expect(countProgress(progress)).toEqual({ done: 1, failed: 0, total: 3 });
  });

  it('follows install events of its own deployment only', () => {
    const failed = applyEvent(progress, installEvent('dep_1', 'ins_2', 'failed'));
    expect(countProgress(failed)).toEqual({ done: 2, failed: 1, total: 3 });
    expect(progress.installs.get('ins_2')).toBe('running');
    expect(applyEvent(progress, installEvent('dep_2', 'ins_2', 'failed'))).toBe(progress);
    expect(applyEvent(progress, installEvent('dep_1', 'ins_1', 'succeeded'))).toBe(progress);
  });

  it('adds an install it did not know (a host put back)', () => {
    const more = applyEvent(progress, installEvent('dep_1', 'ins_9', 'queued'));
    expect(countProgress(more).total).toBe(4);
  });

  it('ignores a state that cannot follow the one known: an event older than the record', () => {
    // Held while the record was fetched, which already has ins_1 succeeded and ins_2 running.
    expect(applyEvent(progress, installEvent('dep_1', 'ins_1', 'running'))).toBe(progress);
    expect(applyEvent(progress, installEvent('dep_1', 'ins_2', 'queued'))).toBe(progress);
    const ended: DeploymentProgress = { ...progress, state: 'succeeded' };
    const running: FerryEvent = {
      id: '8',
      kind: 'deployment.state',
      at: '2025-01-01T00:00:00Z',
      app: 'cart',
      env: 'qa',
      deploymentId: 'dep_1',
      hostId: null,
      data: {
        version: 13,
        kind: 'deploy',
        state: 'running',
        phase: 'rollout',
        error: null,
        by: 'a',
      },
    };
    expect(applyEvent(ended, running)).toBe(ended);
    // A host the rollout gave up on that ran it after all is followed.
    const skipped: DeploymentProgress = { ...progress, installs: new Map([['ins_1', 'skipped']]) };
    expect(
      applyEvent(skipped, installEvent('dep_1', 'ins_1', 'running')).installs.get('ins_1'),
    ).toBe('running');
  });
});
