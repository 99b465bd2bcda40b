import { describe, expect, it } from 'vitest';
import { bakeLine } from './follow-deployment.js';

describe('bakeLine', () => {
  it('says until when a deployment bakes, and what a person runs to end a pause', () => {
    const bake = { batch: 1, until: '2026-12-06T14:07:30.000Z' };
    expect(bakeLine({ id: 'dep_b', state: 'baking', error: null, bake })).toBe(
      'baking (until 14:07:30)',
    );
    expect(
      bakeLine({ id: 'dep_b', state: 'paused', error: '2 of 4 hosts turned unhealthy', bake }),
    ).toBe(
      'paused: 2 of 4 hosts turned unhealthy — run ferry deployments resume dep_b or ferry deployments rollback dep_b',
    );
    expect(bakeLine({ id: 'dep_b', state: 'running', error: null, bake })).toBeUndefined();
  });
});
