import { mkdir, mkdtemp, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RememberedHealth } from '../install/remembered-health.js';
import { healthFile } from '../install/remembered-health.js';
import { RELEASE_SNAPSHOT_FILE } from '../install/release-snapshot.js';
import { SECRET_MASK } from '../install/secret-masker.js';
import type { HealthCheckSpec } from './health-check.js';
import { type HealthReport, HealthWatch, NOT_RUNNING, RESTART_WINDOW_MS } from './health-watch.js';

/**
 * The watch's timing and state logic with a fake clock, a fake driver and a
 * fake probe (the real probe is health-check.ts's, tested there; the real
 * agent's watch is in test/continuous-health.test.ts). The remembered checks
 * and the `current` links are real files.
 */

let root: string;
let stateDir: string;
let appsDir: string;
let reports: HealthReport[];
let running: boolean;
/** What the probe answers: null when healthy. */
let failure: string | null;
let probed: { spec: HealthCheckSpec; timeoutMs: number }[];
let watch: HealthWatch;

beforeEach(async () => {
  vi.useFakeTimers({ now: new Date('2026-12-06T14:00:00Z') });
  root = await mkdtemp(path.join(os.tmpdir(), 'ferry-health-watch-'));
  stateDir = path.join(root, 'state');
  appsDir = path.join(root, 'apps');
  await mkdir(stateDir, { recursive: true });
  reports = [];
  running = true;
  failure = null;
  probed = [];
  watch = new HealthWatch({
    stateDir,
    appsDir,
    driver: { status: () => Promise.resolve({ running, pid: running ? 4242 : null }) },
    report: (report) => reports.push(report),
    logger: { error: () => undefined },
    probe: (spec, _options, timeoutMs) => {
      probed.push({ spec, timeoutMs });
      return Promise.resolve(failure);
    },
  });
});

afterEach(async () => {
  watch.close();
  vi.useRealTimers();
  await rm(root, { recursive: true, force: true });
});

/** Installs release `version` of `app` as the health step leaves it: `current` and the remembered check. */
async function released(
  app: string,
  version: number,
  health: Partial<RememberedHealth['health']> | null,
) {
  const appDir = path.join(appsDir, app);
  await mkdir(path.join(appDir, 'releases', String(version)), { recursive: true });
  await unlink(path.join(appDir, 'current')).catch(() => undefined);
  await symlink(`releases/${version}`, path.join(appDir, 'current'));
  const remembered: RememberedHealth = {
    version,
    health:
      health === null
        ? null
        : {
            http: 'http://127.0.0.1:1/health',
            expectStatus: 200,
            timeout: '30s',
            interval: '1s',
            every: '10s',
            ...health,
          },
    cwd: path.join(appDir, 'current'),
    env: {},
  };
  await writeFile(healthFile(stateDir, app), JSON.stringify(remembered));
}

const states = () => reports.map((r) => [r.state, r.version, r.restarts]);

describe('continuous health: the watch', () => {
  it('reports the first state at once, then only changes: healthy → failing (with the answer) → healthy', async () => {
    await released('cart', 3, {});
    await watch.refresh();
    await vi.advanceTimersByTimeAsync(0);
    expect(reports).toEqual([
      expect.objectContaining({
        type: 'health',
        app: 'cart',
        version: 3,
        state: 'healthy',
        since: '2026-12-06T14:00:00.000Z',
        answer: null,
        restarts: 0,
      }),
    ]);
    // Unchanged ticks say nothing.
    await vi.advanceTimersByTimeAsync(30_000);
    expect(reports).toHaveLength(1);
    expect(probed).toHaveLength(4);
    // One attempt per tick, bounded by `every` (10 s) rather than the check's 30 s.
    expect(probed[0]?.timeoutMs).toBe(10_000);

    failure = 'HTTP 500 from http://127.0.0.1:1/health, expected 200';
    await vi.advanceTimersByTimeAsync(10_000); // 14:00:40
    await vi.advanceTimersByTimeAsync(20_000); // still failing: nothing new
    failure = null;
    await vi.advanceTimersByTimeAsync(10_000); // 14:01:10
    expect(reports.map((r) => [r.state, r.since, r.answer])).toEqual([
      ['healthy', '2026-12-06T14:00:00.000Z', null],
      [
        'failing',
        '2026-12-06T14:00:40.000Z',
        'HTTP 500 from http://127.0.0.1:1/health, expected 200',
      ],
      ['healthy', '2026-12-06T14:01:10.000Z', null],
    ]);
  });

  it('tells the facts report what it found of the release that runs, nothing of another or while paused', async () => {
    await released('cart', 3, {});
    expect(watch.stateOf('cart', 3)).toBeUndefined(); // no tick yet
    await watch.refresh();
    await vi.advanceTimersByTimeAsync(0);
    expect(watch.stateOf('cart', 3)).toBe('healthy');
    expect(watch.stateOf('cart', 2)).toBeUndefined();
    failure = 'HTTP 500';
    await vi.advanceTimersByTimeAsync(10_000);
    expect(watch.stateOf('cart', 3)).toBe('failing');
    watch.pause('cart');
    expect(watch.stateOf('cart', 3)).toBeUndefined();
  });

  it('says stopped when the driver says the service does not run, without probing it', async () => {
    await released('cart', 3, {});
    running = false;
    await watch.refresh();
    await vi.advanceTimersByTimeAsync(0);
    expect(reports.map((r) => [r.state, r.answer])).toEqual([['stopped', NOT_RUNNING]]);
    expect(probed).toHaveLength(0);
  });

  it('an app without a health check is healthy while it runs', async () => {
    await released('cart', 3, null);
    await watch.refresh();
    await vi.advanceTimersByTimeAsync(0);
    running = false;
    await vi.advanceTimersByTimeAsync(30_000);
    expect(states()).toEqual([
      ['healthy', 3, 0],
      ['stopped', 3, 0],
    ]);
  });

  it('counts restarts in the last hour, reporting a change of the count once per tick', async () => {
    await released('cart', 3, {});
    await watch.refresh();
    await vi.advanceTimersByTimeAsync(0);
    watch.noteRestart('cart');
    watch.noteRestart('cart');
    await vi.advanceTimersByTimeAsync(10_000);
    watch.noteRestart('cart');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(states()).toEqual([
      ['healthy', 3, 0],
      ['healthy', 3, 2],
      ['healthy', 3, 3],
    ]);
    // The state did not change: `since` stays.
    expect(new Set(reports.map((r) => r.since)).size).toBe(1);
    // An hour later they fall out of the count, which is a change too.
    await vi.advanceTimersByTimeAsync(RESTART_WINDOW_MS);
    expect(states().at(-1)).toEqual(['healthy', 3, 0]);
  });

  it('with supervisord or systemd, counts a new pid of the running service as a restart', async () => {
    let pid = 100;
    const byPid = new HealthWatch({
      stateDir,
      appsDir,
      driver: { status: () => Promise.resolve({ running, pid: running ? pid : null }) },
      restartsFromPids: true,
      report: (report) => reports.push(report),
      logger: { error: () => undefined },
      probe: () => Promise.resolve(null),
    });
    try {
      await released('cart', 3, {});
      await byPid.refresh();
      await vi.advanceTimersByTimeAsync(0);
      await vi.advanceTimersByTimeAsync(10_000); // the same pid: nothing
      pid = 101; // restarted by supervisord between two ticks
      await vi.advanceTimersByTimeAsync(10_000);
      running = false; // between two lives
      await vi.advanceTimersByTimeAsync(10_000);
      running = true;
      pid = 102;
      await vi.advanceTimersByTimeAsync(10_000);
      expect(states()).toEqual([
        ['healthy', 3, 0],
        ['healthy', 3, 1],
        ['stopped', 3, 1],
        ['healthy', 3, 2],
      ]);
      // An install restarts the service on purpose: not counted.
      byPid.pause('cart');
      pid = 200;
      await byPid.resume('cart');
      await vi.advanceTimersByTimeAsync(10_000);
      expect(states()).toHaveLength(4);
    } finally {
      byPid.close();
    }
  });

  it('is paused during an install (no false "failing") and watches the new release after it', async () => {
    await released('cart', 3, {});
    await watch.refresh();
    await vi.advanceTimersByTimeAsync(0);
    watch.pause('cart');
    failure = 'connect ECONNREFUSED 127.0.0.1:1';
    running = false;
    const before = probed.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(probed.length).toBe(before);
    expect(reports).toHaveLength(1);

    await released('cart', 4, { every: '5s' });
    running = true;
    failure = null;
    await watch.resume('cart');
    await vi.advanceTimersByTimeAsync(0);
    expect(states()).toEqual([
      ['healthy', 3, 0],
      ['healthy', 4, 0],
    ]);
    // The new release's `every`.
    const ticks = probed.length;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(probed.length - ticks).toBe(2);
  });

  it('stops watching an app whose remembered check is gone or is for another release', async () => {
    await released('cart', 3, {});
    await released('front', 7, {});
    await watch.refresh();
    await vi.advanceTimersByTimeAsync(0);
    expect(reports.map((r) => r.app).sort()).toEqual(['cart', 'front']);
    await unlink(healthFile(stateDir, 'front'));
    // A release switched without a check remembered for it (by hand): not watched.
    const appDir = path.join(appsDir, 'cart');
    await unlink(path.join(appDir, 'current'));
    await symlink('releases/2', path.join(appDir, 'current'));
    await watch.refresh();
    const ticks = probed.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(probed.length).toBe(ticks);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("never puts a secret of the release in the answer (a command check's output, say)", async () => {
    await released('cart', 3, {});
    await writeFile(
      path.join(appsDir, 'cart', 'releases', '3', RELEASE_SNAPSHOT_FILE),
      JSON.stringify({
        version: 3,
        installId: 'ins_1',
        deploymentId: null,
        vars: { DB_PASSWORD: 'hunter2-long', PORT: '8080' },
        secrets: ['DB_PASSWORD'],
        writtenAt: '2026-12-06T13:00:00Z',
      }),
    );
    failure = 'exit code 1: cannot connect as cart:hunter2-long@db:8080';
    await watch.refresh();
    await vi.advanceTimersByTimeAsync(0);
    expect(reports.map((r) => r.answer)).toEqual([
      `exit code 1: cannot connect as cart:${SECRET_MASK}@db:8080`,
    ]);
  });

  it('reports the present state again on demand (after a reconnect)', async () => {
    await released('cart', 3, {});
    await watch.refresh();
    await vi.advanceTimersByTimeAsync(0);
    watch.reportAll();
    expect(reports).toHaveLength(2);
    expect(reports[1]).toEqual({ ...reports[0], at: reports[1]?.at });
  });

  it('bounds a probe that never answers, and leaves no timer behind once closed', async () => {
    await released('cart', 3, { every: '2s' });
    const hanging = new HealthWatch({
      stateDir,
      appsDir,
      driver: { status: () => Promise.resolve({ running: true, pid: 1 }) },
      report: (report) => reports.push(report),
      logger: { error: () => undefined },
      probe: () => new Promise<string | null>(() => undefined),
    });
    await hanging.refresh();
    await vi.advanceTimersByTimeAsync(3_000);
    expect(reports.map((r) => [r.state, r.answer])).toEqual([
      ['failing', 'no answer from the health check within 2000ms'],
    ]);
    hanging.close();
    watch.close();
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(reports).toHaveLength(1);
  });
});
