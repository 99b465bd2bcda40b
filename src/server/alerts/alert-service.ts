import { type AlertRecord, DEFAULT_ALERTS_LIMIT } from '../../protocol/alert-api.js';
import { FerryError } from '../../protocol/errors.js';
import type { LocalHappening } from '../events/event-bus.js';
import type { HostRecord } from '../../protocol/api.js';
import { type DeploymentState, hasLanded } from '../../protocol/lifecycle.js';
import type { NewAlert, StoredAlert } from '../../store/alert-store.js';
import type { Store } from '../../store/store.js';
import { bytesText, failingText, releaseText } from './alert-text.js';

/** The thresholds alerts are raised at (server config `alerts`). */
export interface AlertThresholds {
  /** A mount fuller than this share of its size (0–100). */
  diskPercent: number;
  /** Memory in use over this share of the total (0–100). */
  memoryPercent: number;
  /** Restarts of one service in the last hour that raise `service-restarting`. */
  restartsPerHour: number;
}

/** A service's health change, as the bus hands it to a local effect. */
export type HealthChangeEvent = LocalHappening<'host.health'>;

/** A deployment's change of state, as the bus hands it to a local effect. */
export type DeploymentStateEvent = LocalHappening<'deployment.state'>;

/**
 * Raises and clears the alerts of services and hosts: from each change of a
 * service's health (`service-failing`, `service-restarting`) and each facts
 * report (`disk-full`, `memory-full`); `HostAwaySweep` does `host-away`. It
 * writes through the evented store, so each alert raised or cleared is also
 * an `alert.raised` / `alert.cleared` event. Raising and clearing are
 * idempotent per key, so a report delivered twice, or handled by two
 * replicas, raises one alert.
 *
 * @example
 *   const alerts = new AlertService(store, { diskPercent: 90, memoryPercent: 95, restartsPerHour: 3 });
 *   events.onLocal('host.health', (event) => alerts.serviceHealth(event));
 *   events.onLocal('host.reported', (notice) => alerts.hostFacts(notice.hostId));
 */
export class AlertService {
  constructor(
    private readonly store: Store,
    private readonly thresholds: AlertThresholds,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** A service's health changed: failing or stopped raises `service-failing`, healthy clears it; restarts likewise. */
  async serviceHealth(event: HealthChangeEvent): Promise<void> {
    const { hostId, app } = event;
    if (hostId === null || app === null) return;
    const health = event.data;
    const now = this.clock();
    const at = now.toISOString();
    const failingKey = `service-failing:${hostId}:${app}`;
    if (health.state === 'healthy') {
      await this.store.alerts.clear(failingKey, at, 'its health check passes again');
    } else {
      const installed = await this.installOf(hostId, app, health.version);
      await this.store.alerts.raise({
        kind: 'service-failing',
        key: failingKey,
        env: event.env,
        app,
        hostId,
        host: health.host,
        version: health.version,
        deploymentId: installed?.deploymentId ?? null,
        message: failingText(
          {
            app,
            version: health.version,
            host: health.host,
            state: health.state,
            since: health.since,
            answer: health.answer,
            installed:
              installed === null
                ? null
                : { at: installed.at, byDeployment: installed.deploymentId !== null },
          },
          now,
        ),
        startedAt: at,
      });
    }
    const restartingKey = `service-restarting:${hostId}:${app}`;
    const limit = this.thresholds.restartsPerHour;
    if (health.restarts >= limit) {
      await this.store.alerts.raise({
        kind: 'service-restarting',
        key: restartingKey,
        env: event.env,
        app,
        hostId,
        host: health.host,
        version: health.version,
        deploymentId: null,
        message: `${releaseText(app, health.version)} on ${health.host} restarted ${health.restarts} times in the last hour (alerts at ${limit})`,
        startedAt: at,
      });
    } else {
      await this.store.alerts.clear(
        restartingKey,
        at,
        `restarted ${health.restarts} times in the last hour, under ${limit}`,
      );
    }
  }

  /**
   * A deployment changed state: a `deployment-degraded` alert clears once
   * what it warned of no longer runs — its own deployment's when that was
   * rolled back (its hosts are back on their previous release); an earlier
   * deployment's of the same app and environment when a later one landed
   * (its release replaced that one). A deployment that landed keeps its own
   * open (`onDegrade: alert`, or resumed by a person): its release still runs.
   */
  async deploymentState(event: DeploymentStateEvent): Promise<void> {
    const { deploymentId, app, env } = event;
    if (deploymentId === null || app === null || env === null) return;
    const state = event.data.state as DeploymentState;
    const at = this.clock().toISOString();
    if (state === 'rolled_back') {
      await this.store.alerts.clear(
        `deployment-degraded:${deploymentId}`,
        at,
        'the deployment was rolled back',
      );
      return;
    }
    if (!hasLanded(state)) return;
    const earlier = (await this.store.alerts.list({ open: true, env, app })).filter(
      (alert) => alert.kind === 'deployment-degraded' && alert.deploymentId !== deploymentId,
    );
    for (const alert of earlier)
      await this.store.alerts.clear(
        alert.key,
        at,
        `${releaseText(app, event.data.version)} was deployed over it (${deploymentId})`,
      );
  }

  /**
   * A host reported its facts: each mount over `diskPercent` raises
   * `disk-full`, memory over `memoryPercent` raises `memory-full`; those now
   * under, or no longer reported, are cleared. One read of the host's open
   * alerts; a write only where something changed.
   */
  async hostFacts(hostId: string): Promise<void> {
    const host = await this.store.hosts.get(hostId);
    if (!host?.facts || host.revokedAt !== null) return;
    const at = this.clock().toISOString();
    const wanted = this.factAlerts(host, at);
    const open = (await this.store.alerts.list({ open: true, hostId })).filter(
      (alert) => alert.kind === 'disk-full' || alert.kind === 'memory-full',
    );
    const openKeys = new Set(open.map((alert) => alert.key));
    for (const alert of wanted.values()) {
      if (!openKeys.has(alert.key)) await this.store.alerts.raise(alert);
    }
    for (const alert of open) {
      if (!wanted.has(alert.key)) {
        await this.store.alerts.clear(alert.key, at, underText(alert, host, this.thresholds));
      }
    }
  }

  /** The fact alerts a host's latest facts call for, by key. */
  private factAlerts(host: HostRecord, at: string): Map<string, NewAlert> {
    const wanted = new Map<string, NewAlert>();
    const subject = {
      env: host.env,
      app: null,
      hostId: host.id,
      host: host.name,
      version: null,
      deploymentId: null,
      startedAt: at,
    };
    for (const disk of host.facts?.disks ?? []) {
      const used = usedPercent(disk.sizeBytes, disk.freeBytes);
      if (used === null || used <= this.thresholds.diskPercent) continue;
      const key = `disk-full:${host.id}:${disk.mount}`;
      wanted.set(key, {
        ...subject,
        kind: 'disk-full',
        key,
        message: `${disk.mount} on ${host.name} is ${Math.floor(used)}% full (${bytesText(disk.freeBytes ?? 0)} free of ${bytesText(disk.sizeBytes ?? 0)}), over ${this.thresholds.diskPercent}%`,
      });
    }
    const memory = host.facts?.memory;
    const used = usedPercent(memory?.totalBytes ?? null, memory?.freeBytes ?? null);
    if (used !== null && used > this.thresholds.memoryPercent) {
      const key = `memory-full:${host.id}`;
      wanted.set(key, {
        ...subject,
        kind: 'memory-full',
        key,
        message: `memory on ${host.name} is ${Math.floor(used)}% used (${bytesText(memory?.freeBytes ?? 0)} free of ${bytesText(memory?.totalBytes ?? 0)}), over ${this.thresholds.memoryPercent}%`,
      });
    }
    return wanted;
  }

  /** The alerts asked for, newest first; `host` is a host's name. */
  async list(query: {
    open?: boolean | undefined;
    env?: string | undefined;
    app?: string | undefined;
    host?: string | undefined;
    limit?: number | undefined;
  }): Promise<AlertRecord[]> {
    let hostId: string | undefined;
    if (query.host !== undefined) {
      const host = await this.store.hosts.findByName(query.host);
      if (!host) {
        throw new FerryError('E_HOST_NOT_FOUND', `No host named ${query.host}`, {
          host: query.host,
        });
      }
      hostId = host.id;
    }
    const alerts = await this.store.alerts.list({
      ...(query.open === undefined ? {} : { open: query.open }),
      ...(query.env === undefined ? {} : { env: query.env }),
      ...(query.app === undefined ? {} : { app: query.app }),
      ...(hostId === undefined ? {} : { hostId }),
      limit: query.limit ?? DEFAULT_ALERTS_LIMIT,
    });
    return alerts.map(alertRecord);
  }

  /** When a release was installed on a host, and by which deployment; null when never (as far as the records say). */
  private async installOf(
    hostId: string,
    app: string,
    version: number | null,
  ): Promise<{ at: string; deploymentId: string | null } | null> {
    if (version === null) return null;
    const [install] = await this.store.installs.list({
      hostId,
      app,
      version,
      states: ['succeeded'],
      limit: 1,
      steps: false,
    });
    const at = install?.finishedAt ?? null;
    return install && at !== null ? { at, deploymentId: install.deploymentId } : null;
  }
}

/** The share of a size in use, 0–100; null when either figure is unknown or the size is 0. */
function usedPercent(size: number | null, free: number | null): number | null {
  if (size === null || free === null || size <= 0) return null;
  return ((size - Math.min(free, size)) / size) * 100;
}

/** Why a fact alert cleared: the mount or memory is under its threshold now, or is no longer reported. */
function underText(alert: StoredAlert, host: HostRecord, thresholds: AlertThresholds): string {
  if (alert.kind === 'memory-full') return `memory in use is under ${thresholds.memoryPercent}%`;
  const mount = alert.key.slice(`disk-full:${host.id}:`.length);
  const reported = host.facts?.disks.some((disk) => disk.mount === mount) ?? false;
  return reported
    ? `${mount} is under ${thresholds.diskPercent}% full`
    : `${mount} is no longer reported`;
}

/** An alert as the API answers it (its key is the store's). */
export function alertRecord(alert: StoredAlert): AlertRecord {
  return {
    id: alert.id,
    kind: alert.kind,
    env: alert.env,
    app: alert.app,
    host: alert.host,
    hostId: alert.hostId,
    version: alert.version,
    deploymentId: alert.deploymentId,
    message: alert.message,
    startedAt: alert.startedAt,
    clearedAt: alert.clearedAt,
    clearedBecause: alert.clearedBecause,
  };
}
