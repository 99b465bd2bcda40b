import { describe, expect, it } from 'vitest';
import { environmentSchema } from './environment-config.js';

describe('environmentSchema strategy bakes', () => {
  it('accepts a bake and a batch bake of up to a week', () => {
    const env = environmentSchema.parse({
      name: 'prod',
      strategy: { bake: '168h', batchBake: '30s' },
    });
    expect(env.strategy).toMatchObject({ bake: '168h', batchBake: '30s' });
  });

  it('refuses a longer one, naming the key (Node fires a timer past 24.8 days at once)', () => {
    for (const strategy of [{ bake: '169h' }, { batchBake: '600h' }]) {
      const result = environmentSchema.safeParse({ name: 'prod', strategy });
      expect(result.success).toBe(false);
      expect(result.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
        [
          `strategy.${Object.keys(strategy)[0]}`,
          'expected a duration between 0s and 168h (a week)',
        ],
      ]);
    }
  });
});
