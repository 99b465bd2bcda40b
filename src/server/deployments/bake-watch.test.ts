import { describe, expect, it } from 'vitest';
import type { ServiceHealth } from '../../store/health-store.js';
import type { StoredInstall } from '../../store/store.js';
import { degradedHosts } from './bake-watch.js';

const FINISHED = '2026-12-06T10:00:00.000Z';

/** A succeeded install of web@2 on a host (only what the bake reads). */
const install = (host: string): StoredInstall =>
  ({ hostId: `host_${host}`, host, state: 'succeeded', finishedAt: FINISHED }) as StoredInstall;

/** web@2 failing on a host since after its install. */
const failing = (host: string): ServiceHealth => ({
  hostId: `host_${host}`,
  host,
  env: 'prod',
  app: 'web',
  version: 2,
  state: 'failing',
  since: '2026-12-06T10:00:05.000Z',
  answer: 'HTTP 503',
  restarts: 0,
  at: '2026-12-06T10:00:05.100Z',
});

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
});
