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
});
