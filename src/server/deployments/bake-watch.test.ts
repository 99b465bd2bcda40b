import { describe, expect, it } from 'vitest';
import type { ServiceHealth } from '../../store/health-store.js';
import type { StoredInstall } from '../../store/store.js';
import { degradedHosts } from './bake-watch.js';

const FINISHED = '2026-12-06T10:00:00.000Z';

/** A succeeded install on a host (only what the bake reads). */
const install = (host: string): StoredInstall =>
  ({ hostId: `host_${host}`, host, state: 'succeeded', finishedAt: FINISHED }) as StoredInstall;

/** The service's health on a host, reported after its install. */
const health = (host: string, extra: Partial<ServiceHealth> = {}): ServiceHealth => ({
  hostId: `host_${host}`,
  host,
  env: 'prod',
  app: 'web',
  version: 2,
  state: 'healthy',
  since: '2026-12-06T10:00:05.000Z',
  answer: null,
  restarts: 0,
  at: '2026-12-06T10:00:05.100Z',
  ...extra,
});

const failing = (host: string) => health(host, { state: 'failing', answer: 'HTTP 503' });

describe('degradedHosts', () => {
  it('names the hosts in host-name order, whatever the order of their installs', () => {
    const degraded = degradedHosts(
      { version: 2 },
      [install('prod-3'), install('prod-2'), install('prod-1')],
      [failing('prod-1'), failing('prod-3')],
      {},
    );
    expect(degraded.map((d) => d.host)).toEqual(['prod-1', 'prod-3']);
  });

  const restarted = (restarts: number, atStart: number) =>
    degradedHosts({ version: 2 }, [install('prod-1')], [health('prod-1', { restarts })], {
      'host_prod-1': atStart,
    });

  it('counts restarts grown since the bake began', () => {
    expect(restarted(7, 4)).toEqual([
      { hostId: 'host_prod-1', host: 'prod-1', why: 'restarted 3 times' },
    ]);
    expect(restarted(6, 4)).toEqual([]);
  });

  it('never counts a fall of the count as growth (old restarts ageing out of the hour)', () => {
    // 5 in the hour before the bake; two aged out, one new: 4 now.
    expect(restarted(4, 5)).toEqual([]);
    expect(restarted(3, 5)).toEqual([]);
    expect(restarted(0, 5)).toEqual([]);
    expect(restarted(8, 5)).toEqual([
      { hostId: 'host_prod-1', host: 'prod-1', why: 'restarted 3 times' },
    ]);
  });
});
