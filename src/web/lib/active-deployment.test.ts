import { describe, expect, it } from 'vitest';
import { activeLook } from './active-deployment.js';
import { stateLook } from './state-look.js';

describe('activeLook', () => {
  it('names the deployment under way by its state, each with a look of its own', () => {
    const of = (state: 'pending' | 'running' | 'baking' | 'paused') =>
      activeLook({ id: 'dep_b', version: 13, state });
    expect(of('running')).toEqual({ state: 'deploying', label: 'deploying v13', note: null });
    expect(of('pending').label).toBe('queued v13');
    expect(of('baking').label).toBe('baking v13');
    expect(of('paused')).toEqual({
      state: 'paused',
      label: 'paused v13',
      note: 'paused after a bad bake: resume it or roll it back (ferry deployments resume|rollback dep_b)',
    });
    for (const state of ['pending', 'running', 'baking', 'paused'] as const)
      expect(stateLook(of(state).state).symbol).not.toBe('•');
    expect(stateLook('paused').tone).toBe('waiting');
    expect(stateLook('baking').tone).toBe('busy');
  });
});
