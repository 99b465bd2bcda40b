import { describe, expect, it } from 'vitest';
import type { ServiceHealth } from '../../store/health-store.js';
import type { StoredInstall } from '../../store/install-store.js';
import { degradedHosts } from './bake-watch.js';

const finishedAt = '2026-12-06T10:00:00.000Z';
const install = { id: 'ins_1', hostId: 'host_1', host: 'prod-1', state: 'succeeded', finishedAt };
const health = (restarts: number): ServiceHealth => ({
  hostId: 'host_1',
  host: 'prod-1',
  env: 'prod',
  app: 'cart',
  version: 12,
  state: 'healthy',
  since: '2026-12-06T09:00:00.000Z',
  answer: null,
  restarts,
  at: '2026-12-06T09:59:00.000Z',
});

describe('degradedHosts', () => {
  const degraded = (restarts: number, atStart: number) =>
    degradedHosts({ version: 12 }, [install as StoredInstall], [health(restarts)], {
      host_1: atStart,
    });

  it('counts restarts grown since the bake began', () => {
    expect(degraded(7, 4)).toEqual([
      { hostId: 'host_1', host: 'prod-1', why: 'restarted 3 times' },
    ]);
    expect(degraded(6, 4)).toEqual([]);
  });

  it('counts afresh when the count fell (the agent restarted), never a negative growth', () => {
    // 5 at the start; the agent restarted, and has counted 3 restarts since.
    expect(degraded(3, 5)).toEqual([
      { hostId: 'host_1', host: 'prod-1', why: 'restarted 3 times' },
    ]);
    expect(degraded(0, 5)).toEqual([]);
  });
});
