import { describe, expect, it } from 'vitest';
import type { DeploymentInstall, DeploymentRecord } from '../../protocol/deployment-api.js';
import type { FerryEvent } from '../../protocol/events.js';
import { deploymentProgress, groupByBatch, progressText } from './deployment-batches.js';
import { applyDeploymentEvent, deploymentView, mergeInstallSteps } from './deployment-model.js';

function install(n: number, over: Partial<DeploymentInstall> = {}): DeploymentInstall {
  return {
    id: `inst_${n}`,
    host: `qa-${n}`,
    hostId: `host_${n}`,
    version: 7,
    purpose: 'deploy',
    batch: n <= 2 ? 0 : 1,
    state: 'pending',
    fromVersion: 6,
    rolledBack: false,
    error: null,
    step: null,
    startedAt: null,
    finishedAt: null,
    ...over,
  };
}

function record(installs: DeploymentInstall[]): DeploymentRecord {
  return {
    id: 'dep_1',
    app: 'cart',
    version: 7,
    env: 'qa',
    kind: 'deploy',
    state: 'running',
    strategy: { batch: 2, maxFailures: 0, rollbackOnFailure: false, offlineTimeout: '5m' },
    fromVersion: 6,
    createdBy: 'alice',
    triggeredBy: null,
    createdAt: '2026-01-01T00:00:00.000Z',
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: null,
    error: null,
    migratedOn: null,
    installs,
  };
}

let nextId = 1;
/** Each event a second after the one before, as the server records them. */
const subject = (deploymentId = 'dep_1', hostId: string | null = null) => ({
  id: String(nextId),
  at: new Date(Date.parse('2026-01-01T00:00:00.000Z') + 1000 * nextId++).toISOString(),
  app: 'cart',
  env: 'qa',
  deploymentId,
  hostId,
});

function stepEvent(
  n: number,
  step: string,
  state: string,
  exitCode: number | null = null,
): FerryEvent {
  return {
    ...subject('dep_1', `host_${n}`),
    kind: 'install.step',
    data: {
      installId: `inst_${n}`,
      host: `qa-${n}`,
      version: 7,
      step,
      state,
      exitCode,
      durationMs: state === 'running' ? null : 12,
    },
  };
}

function stateEvent(
  n: number,
  state: string,
  over: Partial<{
    purpose: string;
    batch: number | null;
    error: string | null;
    rolledBack: boolean;
    installId: string;
  }> = {},
): FerryEvent {
  return {
    ...subject('dep_1', `host_${n}`),
    kind: 'install.state',
    data: {
      installId: over.installId ?? `inst_${n}`,
      host: `qa-${n}`,
      version: 7,
      purpose: over.purpose ?? 'deploy',
      batch: over.batch === undefined ? 0 : over.batch,
      fromVersion: 6,
      state,
      rolledBack: over.rolledBack ?? false,
      error: over.error ?? null,
    },
  };
}

describe('the deployment page model', () => {
  it('adds each step as it starts and ends, and changes only the install it is about', () => {
    let view = deploymentView(record([install(1), install(2), install(3)]));
    const untouched = view.installs[1];
    view = applyDeploymentEvent(view, stepEvent(1, 'fetch', 'running'));
    view = applyDeploymentEvent(view, stepEvent(1, 'fetch', 'succeeded', 0));
    view = applyDeploymentEvent(view, stepEvent(1, 'unpack', 'running'));
    expect(view.installs[0]!.steps).toEqual([
      { step: 'fetch', state: 'succeeded', exitCode: 0, durationMs: 12, at: expect.any(String) },
      {
        step: 'unpack',
        state: 'running',
        exitCode: null,
        durationMs: null,
        at: expect.any(String),
      },
    ]);
    expect(view.installs[0]!.install.state).toBe('running');
    expect(view.installs[0]!.install.step?.step).toBe('unpack');
    expect(view.installs[1]).toBe(untouched);
  });

  it('keeps a step that runs again after it ended as a line of its own', () => {
    let view = deploymentView(record([install(1)]));
    for (const event of [
      stepEvent(1, 'health', 'running'),
      stepEvent(1, 'health', 'failed', 1),
      stepEvent(1, 'health', 'running'),
      stepEvent(1, 'health', 'succeeded', 0),
    ])
      view = applyDeploymentEvent(view, event);
    expect(view.installs[0]!.steps.map((s) => s.state)).toEqual(['failed', 'succeeded']);
  });

  it("keeps the record's one known step until the install's steps are fetched, then merges them", () => {
    const step = (name: string, state: 'running' | 'succeeded') => ({
      step: name,
      state,
      exitCode: state === 'running' ? null : 0,
      durationMs: 3,
      error: null,
      startedAt: 'x',
      finishedAt: null,
    });
    let view = deploymentView(
      record([install(1, { state: 'running', step: step('unpack', 'running') }), install(2)]),
    );
    expect(view.installs.map((i) => i.complete)).toEqual([false, true]);
    view = applyDeploymentEvent(view, stepEvent(1, 'unpack', 'succeeded', 0));
    view = applyDeploymentEvent(view, stepEvent(1, 'install', 'running'));
    expect(view.installs[0]!.steps.map((s) => `${s.step} ${s.state}`)).toEqual([
      'unpack succeeded',
      'install running',
    ]);
    // Fetched while unpack still ran: the events' later word stays.
    view = mergeInstallSteps(view, 'inst_1', [
      step('fetch', 'succeeded'),
      step('verify', 'succeeded'),
      step('unpack', 'running'),
    ]);
    expect(view.installs[0]!.steps.map((s) => `${s.step} ${s.state}`)).toEqual([
      'fetch succeeded',
      'verify succeeded',
      'unpack succeeded',
      'install running',
    ]);
    expect(view.installs[0]!.complete).toBe(true);
    // A record fetched again keeps the steps; an install that moved meanwhile is incomplete again.
    const again = deploymentView(
      record([install(1, { state: 'succeeded', step: step('prune', 'succeeded') }), install(2)]),
      view,
    );
    expect(again.installs[0]!.steps).toBe(view.installs[0]!.steps);
    expect(again.installs[0]!.install.state).toBe('succeeded');
    expect(again.installs.map((i) => i.complete)).toEqual([false, true]);
  });

  it("follows hosts' and the deployment's states, adds an install it did not know, and ignores other deployments", () => {
    let view = deploymentView(record([install(1), install(2)]));
    view = applyDeploymentEvent(view, stateEvent(1, 'failed', { error: 'health check failed' }));
    view = applyDeploymentEvent(view, stateEvent(2, 'succeeded'));
    view = applyDeploymentEvent(
      view,
      stateEvent(2, 'running', { installId: 'inst_r', purpose: 'revert', batch: null }),
    );
    view = applyDeploymentEvent(view, {
      ...subject(),
      kind: 'deployment.state',
      data: {
        version: 7,
        kind: 'deploy',
        state: 'failed',
        phase: 'done',
        error: 'qa-1 failed',
        by: 'alice',
      },
    });
    const other = { ...stateEvent(1, 'succeeded'), deploymentId: 'dep_2' } as FerryEvent;
    expect(applyDeploymentEvent(view, other)).toBe(view);
    expect(view.record.state).toBe('failed');
    expect(view.record.error).toBe('qa-1 failed');
    expect(view.installs.map((i) => [i.install.host, i.install.purpose, i.install.state])).toEqual([
      ['qa-1', 'deploy', 'failed'],
      ['qa-2', 'deploy', 'succeeded'],
      ['qa-2', 'revert', 'running'],
    ]);
    expect(progressText(deploymentProgress(view))).toBe(
      '1 of 2 hosts done · 1 failed · 1 put back',
    );
  });

  it("ignores a step's start from before the record that has the step's end", () => {
    const at = (second: number) => `2026-01-01T00:00:${String(second).padStart(2, '0')}.000Z`;
    const prune = {
      step: 'prune',
      state: 'succeeded' as const,
      exitCode: 0,
      durationMs: 5,
      error: null,
      startedAt: at(9),
      finishedAt: at(10),
    };
    // The page asked for the record while prune ran; its start came meanwhile, and was
    // held, but the record (read later) has prune's end already.
    let view = deploymentView(record([install(1, { state: 'running', step: prune })]));
    view = applyDeploymentEvent(view, { ...stepEvent(1, 'prune', 'running'), at: at(10) });
    expect(view.installs[0]!.steps.map((s) => `${s.step} ${s.state}`)).toEqual(['prune succeeded']);
    // Its end, held too, or live: still one line.
    view = applyDeploymentEvent(view, { ...stepEvent(1, 'prune', 'succeeded', 0), at: at(10) });
    expect(view.installs[0]!.steps.map((s) => `${s.step} ${s.state}`)).toEqual(['prune succeeded']);
    // A step that runs again later is a line of its own.
    view = applyDeploymentEvent(view, { ...stepEvent(1, 'prune', 'running'), at: at(12) });
    expect(view.installs[0]!.steps.map((s) => `${s.step} ${s.state}`)).toEqual([
      'prune succeeded',
      'prune running',
    ]);
    expect(view.installs[0]!.install.step).toMatchObject({ step: 'prune', state: 'running' });
    expect(view.installs[0]!.install.step).not.toHaveProperty('at');
  });

  it("follows the deployment's start, end and phase from its events, and no older event undoes its end", () => {
    const event = (state: string, phase: string, second: number): FerryEvent => ({
      ...subject(),
      at: `2026-01-01T00:01:${String(second).padStart(2, '0')}.000Z`,
      kind: 'deployment.state',
      data: { version: 7, kind: 'deploy', state, phase, error: null, by: 'alice' },
    });
    let view = deploymentView({ ...record([install(1)]), state: 'pending', startedAt: null });
    view = applyDeploymentEvent(view, event('running', 'rollout', 1));
    expect(view.record).toMatchObject({ state: 'running', startedAt: '2026-01-01T00:01:01.000Z' });
    expect(view.record.finishedAt).toBeNull();
    view = applyDeploymentEvent(view, event('running', 'reverting', 2));
    expect(view.phase).toBe('reverting');
    view = applyDeploymentEvent(view, event('failed', 'reverting', 3));
    expect(view.record).toMatchObject({
      state: 'failed',
      startedAt: '2026-01-01T00:01:01.000Z',
      finishedAt: '2026-01-01T00:01:03.000Z',
    });
    expect(view.phase).toBeUndefined();
    // Said again (the same event from the replay and the record): nothing changes.
    expect(applyDeploymentEvent(view, event('failed', 'reverting', 3))).toBe(view);
    // A running said before the record that ended (held while it was fetched) is old news.
    const ended = deploymentView({
      ...record([install(1)]),
      state: 'succeeded',
      finishedAt: '2026-01-01T00:02:00.000Z',
    });
    expect(applyDeploymentEvent(ended, event('running', 'rollout', 4))).toBe(ended);
  });

  it('counts progress in words', () => {
    const view = deploymentView(
      record([
        install(1, { state: 'succeeded' }),
        install(2, { state: 'running' }),
        install(3, { state: 'queued' }),
        install(4, { state: 'skipped' }),
      ]),
    );
    expect(progressText(deploymentProgress(view))).toBe(
      '1 of 4 hosts done · 1 installing · 1 waiting · 1 skipped or cancelled',
    );
  });

  it('groups by batch, failed hosts first or alone, and filters by host name', () => {
    const view = deploymentView(
      record([
        install(1, { state: 'succeeded' }),
        install(2, { state: 'failed' }),
        install(3, { state: 'succeeded' }),
        install(4, { state: 'cancelled' }),
        install(5, { purpose: 'revert', batch: null, state: 'succeeded' }),
      ]),
    );
    const hosts = (groups: ReturnType<typeof groupByBatch>) =>
      groups.map((g) => [g.title, g.installs.map((i) => i.install.host)]);
    expect(hosts(groupByBatch(view))).toEqual([
      ['Batch 1', ['qa-1', 'qa-2']],
      ['Batch 2', ['qa-3', 'qa-4']],
      ['Putting back', ['qa-5']],
    ]);
    expect(hosts(groupByBatch(view, { failedFirst: true }))[0]).toEqual([
      'Batch 1',
      ['qa-2', 'qa-1'],
    ]);
    expect(hosts(groupByBatch(view, { onlyFailed: true }))).toEqual([['Batch 1', ['qa-2']]]);
    expect(hosts(groupByBatch(view, { text: 'QA-3' }))).toEqual([['Batch 2', ['qa-3']]]);
  });
});
