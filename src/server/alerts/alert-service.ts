import { type AlertRecord, DEFAULT_ALERTS_LIMIT } from '../../protocol/alert-api.js';
import { FerryError } from '../../protocol/errors.js';
import type { LocalHappening } from '../events/event-bus.js';
import type { HostRecord } from '../../protocol/api.js';
import type { HostFacts } from '../../protocol/host-facts.js';
import { type DeploymentState, hasLanded } from '../../protocol/lifecycle.js';
import type { AlertKind, NewAlert, StoredAlert } from '../../store/alert-store.js';
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

/** A service's health report as the bus hands it to a local effect: every report, changed or not. */
export type ServiceReport = LocalHappening<'service.reported'>;

/** How long a replica trusts what it remembers of a host's open fact alerts before reading them again. */
const OPEN_KEYS_TTL_MS = 10 * 60_000;

/** A health row older than this (server clock) may go with a facts report whose own time is unknown. */
const HEALTH_ROW_SETTLE_MS = 2 * 60_000;

/** What this replica remembers of a host, so that an unchanged facts report costs no query. */
interface HostMemory {
  /** The keys of the host's open fact alerts (disk-full, memory-full), as last read or written. */
  openKeys: Set<string>;
  /** When `openKeys` was read from the store. */
  readAt: number;
  /** Each app's current release as last reported (`undefined`: none seen yet). */
  current: Map<string, number | null> | undefined;
  /** A health report was kept for the host since its facts were last compared with its health rows. */
  healthSince: boolean;
}

/** A deployment's change of state, as the bus hands it to a local effect. */
export type DeploymentStateEvent = LocalHappening<'deployment.state'>;

/**
 * Raises and clears the alerts of services and hosts: from each health report
 * of a service (`service-failing`, `service-restarting`), changed or not, and
 * each facts report (`disk-full`, `memory-full`); `HostAwaySweep` does
 * `host-away`. It writes through the evented store, so each alert raised or
 * cleared is also an `alert.raised` / `alert.cleared` event. Raising and
 * clearing are idempotent per key, so a report delivered twice, or handled by
 * two replicas, raises one alert.
 *
 * A facts report also ends the health of releases that no longer run: a
 * health row (and its alerts) of a version other than the app's `current`,
 * or of an app gone, is forgotten — the agent stopped watching it and will
 * not report it again.
 *
 * @example
 *   const alerts = new AlertService(store, { diskPercent: 90, memoryPercent: 95, restartsPerHour: 3 });
 *   events.onLocal('service.reported', (report) => alerts.serviceHealth(report));
 *   events.onLocal('host.reported', (notice) => alerts.hostFacts(notice.hostId, notice.facts));
 */
export class AlertService {
  private readonly hosts = new Map<string, HostMemory>();

  constructor(
    private readonly store: Store,
    private readonly thresholds: AlertThresholds,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** A service's health was reported: failing or stopped raises `service-failing`, healthy clears it; restarts likewise. */
  async serviceHealth(report: ServiceReport): Promise<void> {
    const { hostId, app } = report;
    const health = report.data;
    const memory = this.hosts.get(hostId);
    if (memory) memory.healthSince = true;
    const now = this.clock();
    const at = now.toISOString();
    const failingKey = failingKeyOf(hostId, app);
    if (health.state === 'healthy') {
      await this.store.alerts.clear(failingKey, at, 'its health check passes again');
    } else {
      const installed = await this.installOf(hostId, app, health.version);
      await this.store.alerts.raise({
        kind: 'service-failing',
        key: failingKey,
        env: report.env,
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
    const restartingKey = restartingKeyOf(hostId, app);
    const limit = this.thresholds.restartsPerHour;
    if (health.restarts >= limit) {
      await this.store.alerts.raise({
        kind: 'service-restarting',
        key: restartingKey,
        env: report.env,
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
        restartsUnderText(health.restarts, report.restartsBefore, limit),
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
    const earlier = (
      await this.store.alerts.list({ open: true, env, app, kind: 'deployment-degraded' })
    ).filter(
      // Another release over it; the same one deployed again still runs degraded.
      (alert) =>
        alert.kind === 'deployment-degraded' &&
        alert.deploymentId !== deploymentId &&
        alert.version !== event.data.version,
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
   * under, or no longer reported, are cleared. That a host has no fact alert
   * open is remembered (read again every 10 minutes): a report that crosses
   * no threshold then touches no store; with an alert wanted or open, the
   * store's open alerts are read at each report (another replica may have
   * changed them). The health rows of releases that no longer run go
   * too (see the class).
   */
  async hostFacts(hostId: string, facts: HostFacts): Promise<void> {
    const nowDate = this.clock();
    const now = nowDate.getTime();
    let memory = this.hosts.get(hostId);
    const wantedKeys = factAlertKeys(hostId, facts, this.thresholds);
    // The remembered keys are trusted only while nothing is wanted nor open:
    // another replica may have raised or cleared one since (its reports land
    // there too), so with an alert about, the store is read again.
    const settled = memory !== undefined && wantedKeys.size === 0 && memory.openKeys.size === 0;
    if (!memory || !settled || now - memory.readAt > OPEN_KEYS_TTL_MS) {
      const open = await this.store.alerts.list({ open: true, hostId });
      memory = {
        openKeys: new Set(open.filter((alert) => isFactAlert(alert.kind)).map((a) => a.key)),
        readAt: now,
        current: memory?.current,
        healthSince: memory?.healthSince ?? true,
      };
      this.hosts.set(hostId, memory);
    }
    const current = new Map(Object.entries(facts.apps).map(([app, a]) => [app, a.current]));
    const currentChanged = memory.current === undefined || !sameMap(memory.current, current);
    const alertsChanged = !sameSet(wantedKeys, memory.openKeys);
    if (!alertsChanged && !currentChanged && !memory.healthSince) return;
    const host = await this.store.hosts.get(hostId);
    if (!host || host.revokedAt !== null) return;
    const at = nowDate.toISOString();
    if (alertsChanged) {
      const wanted = this.factAlerts(host, facts, at);
      // Those that ended first: whoever sees the new alert sees the old one cleared.
      for (const key of [...memory.openKeys]) {
        if (wanted.has(key)) continue;
        await this.store.alerts.clear(key, at, underText(key, host, facts, this.thresholds));
        memory.openKeys.delete(key);
      }
      for (const alert of wanted.values()) {
        if (!memory.openKeys.has(alert.key)) await this.store.alerts.raise(alert);
        memory.openKeys.add(alert.key);
      }
    }
    if (currentChanged || memory.healthSince) {
      memory.healthSince = false;
      await this.forgetReleasesGone(host, facts, nowDate);
      memory.current = current;
    }
  }

  /**
   * Forgets the health of each release that no longer runs on the host (its
   * version is not the app's `current`, or the app is gone), and clears its
   * alerts: the agent stopped watching it and will report it no more. A row
   * the agent reported after these facts were collected stays (the facts are
   * the older news).
   */
  private async forgetReleasesGone(host: HostRecord, facts: HostFacts, now: Date): Promise<void> {
    const rows = await this.store.health.list({ hostId: host.id });
    const collectedAt = facts.collectedAt === null ? Number.NaN : Date.parse(facts.collectedAt);
    const at = now.toISOString();
    for (const row of rows) {
      const app = facts.apps[row.app];
      if (app && app.current === row.version) continue;
      const older =
        row.agentAt !== undefined && !Number.isNaN(collectedAt)
          ? Date.parse(row.agentAt) < collectedAt
          : now.getTime() - Date.parse(row.at) > HEALTH_ROW_SETTLE_MS;
      if (!older) continue;
      const because = !app
        ? `${row.app} is no longer on ${host.name}`
        : `${releaseText(row.app, row.version)} no longer runs on ${host.name} (${
            app.current === null ? 'no release is current' : `${row.app}@${app.current} is current`
          })`;
      // Only the row read: a report of the release now running, kept meanwhile, stays,
      // and so do its alerts.
      if (!(await this.store.health.forget(host.id, row.app, row.version))) continue;
      await this.store.alerts.clear(failingKeyOf(host.id, row.app), at, because);
      await this.store.alerts.clear(restartingKeyOf(host.id, row.app), at, because);
    }
  }

  /** The fact alerts a host's latest facts call for, by key. */
  private factAlerts(host: HostRecord, facts: HostFacts, at: string): Map<string, NewAlert> {
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
    for (const disk of facts.disks) {
      const used = usedPercent(disk.sizeBytes, disk.freeBytes);
      if (used === null || used <= this.thresholds.diskPercent) continue;
      const key = diskKeyOf(host.id, disk.mount);
      wanted.set(key, {
        ...subject,
        kind: 'disk-full',
        key,
        message: `${disk.mount} on ${host.name} is ${Math.floor(used)}% full (${bytesText(disk.freeBytes ?? 0)} free of ${bytesText(disk.sizeBytes ?? 0)}), over ${this.thresholds.diskPercent}%`,
      });
    }
    const memory = facts.memory;
    const used = usedPercent(memory?.totalBytes ?? null, memory?.freeBytes ?? null);
    if (used !== null && used > this.thresholds.memoryPercent) {
      const key = memoryKeyOf(host.id);
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

const failingKeyOf = (hostId: string, app: string) => `service-failing:${hostId}:${app}`;
const restartingKeyOf = (hostId: string, app: string) => `service-restarting:${hostId}:${app}`;
const diskKeyOf = (hostId: string, mount: string) => `disk-full:${hostId}:${mount}`;
const memoryKeyOf = (hostId: string) => `memory-full:${hostId}`;

function isFactAlert(kind: AlertKind): boolean {
  return kind === 'disk-full' || kind === 'memory-full';
}

/** The keys of the fact alerts a host's facts call for (no message: that needs the host's record). */
function factAlertKeys(hostId: string, facts: HostFacts, thresholds: AlertThresholds): Set<string> {
  const keys = new Set<string>();
  for (const disk of facts.disks) {
    const used = usedPercent(disk.sizeBytes, disk.freeBytes);
    if (used !== null && used > thresholds.diskPercent) keys.add(diskKeyOf(hostId, disk.mount));
  }
  const used = usedPercent(facts.memory?.totalBytes ?? null, facts.memory?.freeBytes ?? null);
  if (used !== null && used > thresholds.memoryPercent) keys.add(memoryKeyOf(hostId));
  return keys;
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && [...a].every((key) => b.has(key));
}

function sameMap<V>(a: ReadonlyMap<string, V>, b: ReadonlyMap<string, V>): boolean {
  return a.size === b.size && [...a].every(([key, value]) => b.has(key) && b.get(key) === value);
}

/**
 * Why a `service-restarting` alert clears. The agent counts restarts in its
 * memory: a count lower than the one before may be the older restarts aging
 * past the hour, or the agent having restarted and counting afresh — the text
 * says so rather than claiming the service is calm.
 */
function restartsUnderText(restarts: number, before: number | null, limit: number): string {
  if (before !== null && restarts < before) {
    return `its restart count fell from ${before} to ${restarts}, under ${limit} (older restarts are over an hour old, or its agent restarted and counts afresh)`;
  }
  return `restarted ${restarts} times in the last hour, under ${limit}`;
}

/** Why a fact alert cleared: the mount or memory is under its threshold now, or is no longer reported. */
function underText(
  key: string,
  host: HostRecord,
  facts: HostFacts,
  thresholds: AlertThresholds,
): string {
  if (key === memoryKeyOf(host.id)) return `memory in use is under ${thresholds.memoryPercent}%`;
  const mount = key.slice(`disk-full:${host.id}:`.length);
  const reported = facts.disks.some((disk) => disk.mount === mount);
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
