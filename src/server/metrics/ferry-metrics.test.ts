import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import type { Store } from '../../store/store.js';
import { EventBus } from '../events/event-bus.js';
import { FerryMetrics } from './ferry-metrics.js';

let dir: string;
let store: Store;
let bus: EventBus;
let metrics: FerryMetrics;
const logger = pino({ level: 'silent' });

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-metrics-'));
  store = SqliteStore.open(path.join(dir, 'ferry.db'));
  await store.migrate();
  bus = new EventBus(store, logger);
  metrics = new FerryMetrics(store, ['qa'], logger);
  metrics.listen(bus);
});

afterEach(async () => {
  await bus.idle();
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

/** A deployment's change of state, as the evented store publishes it. */
const ended = (deploymentId: string, state: string) =>
  bus.publish({
    kind: 'deployment.state',
    app: 'cart',
    env: 'qa',
    deploymentId,
    hostId: null,
    data: { version: 12, kind: 'deploy', state, phase: 'done', error: null, by: 'alice' },
  });

describe('FerryMetrics', () => {
  it('counts a deployment that ends partial, then succeeds as its hosts catch up, once', async () => {
    await ended('dep_1', 'partial');
    await ended('dep_1', 'succeeded');
    await ended('dep_2', 'succeeded');
    await bus.idle();
    const text = await metrics.text();
    expect(text).toContain('ferry_deployments_finished_total{env="qa",outcome="partial"} 1');
    expect(text).toContain('ferry_deployments_finished_total{env="qa",outcome="succeeded"} 1');
  });

  it('counts every open alert, past any list limit, and says which deployments are under way', async () => {
    for (let i = 0; i < 520; i++) {
      await store.alerts.raise({
        kind: 'disk-full',
        key: `disk-full:host_${i}:/`,
        env: 'qa',
        app: null,
        hostId: `host_${i}`,
        host: `qa-${i}`,
        version: null,
        deploymentId: null,
        message: 'full',
        startedAt: new Date().toISOString(),
      });
    }
    const text = await metrics.text();
    expect(text).toContain('ferry_alerts_open{kind="disk-full"} 520');
    expect(text).toContain('ferry_alerts_open{kind="memory-full"} 0');
    expect(text).toContain(
      '# HELP ferry_deployments Deployments under way (pending, running, baking or paused)',
    );
    expect(text).toContain('ferry_deployments{state="baking",env="qa"} 0');
  });
});
