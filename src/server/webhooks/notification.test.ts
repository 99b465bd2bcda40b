import { describe, expect, it } from 'vitest';
import type { FerryEvent } from '../../protocol/events.js';
import { notificationBody, notificationOf } from './notification.js';

const subject = { at: '2026-12-06T10:00:00.000Z', app: 'cart', env: 'prod', hostId: null };

function deploymentEvent(
  id: string,
  state: string,
  extra: { kind?: string; created?: boolean; error?: string | null; phase?: string } = {},
): FerryEvent {
  return {
    ...subject,
    id,
    kind: extra.created ? 'deployment.created' : 'deployment.state',
    deploymentId: 'dep_1',
    data: {
      version: 12,
      kind: extra.kind ?? 'promote',
      state,
      phase: extra.phase ?? 'batch 1',
      error: extra.error ?? null,
      by: 'alice',
    },
  };
}

describe('the notification of an event', () => {
  it('notifies a deployment once when it starts and once when it ends', () => {
    const created = notificationOf(deploymentEvent('1', 'running', { created: true }));
    const phase = notificationOf(deploymentEvent('2', 'running', { phase: 'batch 2' }));
    expect(created).toEqual({
      kind: 'deployment.started',
      dedupKey: 'start:dep_1',
      summary: 'cart@12 is being deployed to prod (promote by alice)',
    });
    // A change of phase is the same start: the same key, recorded once per webhook.
    expect(phase?.dedupKey).toBe(created?.dedupKey);

    expect(notificationOf(deploymentEvent('3', 'succeeded'))).toMatchObject({
      kind: 'deployment.succeeded',
      dedupKey: 'end:dep_1',
    });
    expect(
      notificationOf(deploymentEvent('4', 'failed', { error: 'prod-3: health check failed' })),
    ).toEqual({
      kind: 'deployment.failed',
      dedupKey: 'end:dep_1',
      summary: 'cart@12 failed on prod: prod-3: health check failed',
    });
    expect(notificationOf(deploymentEvent('5', 'partial'))?.kind).toBe('deployment.failed');
    expect(notificationOf(deploymentEvent('6', 'rolled_back'))?.kind).toBe(
      'deployment.rolled_back',
    );
    expect(notificationOf(deploymentEvent('7', 'succeeded', { kind: 'rollback' }))).toMatchObject({
      kind: 'deployment.rolled_back',
      summary: 'prod was rolled back to cart@12 (by alice)',
    });
    for (const state of ['pending', 'cancelled', 'no_hosts', 'baking', 'paused'])
      expect(notificationOf(deploymentEvent('8', state))).toBeUndefined();
  });

  it('notifies verdicts and alerts by their event, and nothing else', () => {
    expect(
      notificationOf({
        ...subject,
        env: null,
        id: '9',
        kind: 'verdict.changed',
        deploymentId: null,
        data: {
          version: 12,
          verdict: 'failed',
          previous: 'passed',
          by: 'qa-bob',
          note: 'cart empty',
        },
      }),
    ).toEqual({
      kind: 'verdict.changed',
      dedupKey: '9',
      summary: 'cart@12 was marked failed by qa-bob (was passed): cart empty',
    });
    const alert = {
      alertId: 4,
      alertKind: 'service-failing',
      host: 'prod-3',
      version: 12,
      message: 'cart@12 on prod-3 fails its health check: HTTP 500',
      startedAt: subject.at,
      clearedAt: null,
    };
    const raised = notificationOf({
      ...subject,
      id: '10',
      kind: 'alert.raised',
      deploymentId: null,
      hostId: 'host_3',
      data: alert,
    });
    expect(raised).toEqual({
      kind: 'alert.raised',
      dedupKey: '10',
      summary: 'Alert: cart@12 on prod-3 fails its health check: HTTP 500',
    });
    expect(
      notificationOf({
        ...subject,
        id: '11',
        kind: 'alert.cleared',
        deploymentId: null,
        hostId: 'host_3',
        data: { ...alert, clearedAt: subject.at },
      })?.kind,
    ).toBe('alert.cleared');
    expect(
      notificationOf({
        ...subject,
        id: '12',
        kind: 'host.connected',
        deploymentId: null,
        hostId: 'host_3',
        data: { host: 'prod-3' },
      }),
    ).toBeUndefined();
  });

  it('makes the JSON body with the id, the subject and the data, or a Slack text', () => {
    const event = deploymentEvent('3', 'succeeded');
    expect(
      JSON.parse(notificationBody('json', 'wh_1:3', 'deployment.succeeded', 'done', event, 'x')),
    ).toEqual({
      id: 'wh_1:3',
      kind: 'deployment.succeeded',
      at: subject.at,
      env: 'prod',
      app: 'cart',
      deploymentId: 'dep_1',
      hostId: null,
      eventId: '3',
      data: event.data,
      summary: 'done',
    });
    expect(
      JSON.parse(notificationBody('slack', 'wh_1:3', 'deployment.succeeded', 'done', event, 'x')),
    ).toEqual({ text: '[ferry] done' });
  });
});
