import type { HostRecord } from '../protocol/api.js';
import {
  ACTIVE_DEPLOYMENT_STATES,
  isRollingOut,
  TOOK_RELEASE_INSTALL_STATES,
} from '../protocol/lifecycle.js';
import type { AppStatus, HistoryEntry, HostStatus } from '../protocol/deployment-api.js';
import { migrationsBehind } from './deployments/migration-gate.js';
import { FerryError } from '../protocol/errors.js';
import type { Store } from '../store/store.js';
import type { BundleService } from './bundle-service.js';
import { changedSince } from './deployments/config-snapshots.js';
import { reportedVersion, roleOf, targetHosts } from './deployments/rollout-plan.js';
import type { EnvironmentConfig } from './environment-config.js';
import type { VariableService } from './variable-service.js';

/**
 * What the server can tell of its apps: `status` (per app and environment, the
 * desired release, each host's release and health, the verdict) and `history`
 * (who changed what and when, newest first: see `history`).
 */
export class RecordsService {
  constructor(
    private readonly store: Store,
    private readonly environments: readonly EnvironmentConfig[],
    private readonly bundles: Pick<BundleService, 'get' | 'list'>,
    /** To tell which variables changed since a host's release was deployed. */
    private readonly variables?: Pick<VariableService, 'resolveFor'>,
  ) {}

  /** The status of every app, or of one. */
  async status(app?: string): Promise<AppStatus[]> {
    const apps = (await this.store.bundles.listApps()).filter(
      (a) => app === undefined || a.name === app,
    );
    if (app !== undefined && apps.length === 0) await this.bundles.list(app); // E_APP_NOT_FOUND
    const hosts = await this.store.hosts.list();
    const desired = await this.store.deployments.listDesiredReleases();
    const active = await this.store.deployments.list({ states: [...ACTIVE_DEPLOYMENT_STATES] });
    const out: AppStatus[] = [];
    for (const summary of apps) {
      const latest = await this.bundles.get(summary.name, summary.latestVersion);
      const role = roleOf(latest);
      const environments = [];
      for (const env of this.environments) {
        const wanted = desired.find((d) => d.app === summary.name && d.env === env.name);
        const running = active.find(
          (d) => d.app === summary.name && d.env === env.name && isRollingOut(d.state),
        );
        const targets = targetHosts(hosts, env.name, role);
        environments.push({
          env: env.name,
          desired: wanted
            ? {
                version: wanted.version,
                deploymentId: wanted.deploymentId,
                since: wanted.updatedAt,
                verdict: await this.store.verdicts.current(summary.name, wanted.version),
              }
            : null,
          active: running
            ? { id: running.id, version: running.version, state: running.state }
            : null,
          hosts: await Promise.all(
            targets.map((h) => this.hostStatus(h, summary.name, wanted?.version)),
          ),
        });
      }
      out.push({ app: summary.name, latestVersion: summary.latestVersion, environments });
    }
    return out;
  }

  /**
   * History, newest first: of one app (its pushes, deployments, rollbacks,
   * verdict changes, installs by hand, catch-ups and cancels), or, without an
   * app, of every app and of the server too (variables, hosts, tokens).
   */
  async history(app: string | undefined, limit = 200): Promise<HistoryEntry[]> {
    const apps =
      app === undefined ? (await this.store.bundles.listApps()).map((a) => a.name) : [app];
    const entries: HistoryEntry[] = [];
    for (const name of apps) entries.push(...(await this.appHistory(name)));
    for (const event of await this.store.history.list({ app, limit })) {
      entries.push({
        at: event.at,
        by: event.by,
        type: event.type,
        app: event.app,
        version: event.version,
        env: event.env,
        detail: event.detail,
        note: null,
        deploymentId: event.deploymentId,
        triggeredBy: null,
      });
    }
    return entries.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0)).slice(0, limit);
  }

  private async appHistory(app: string): Promise<HistoryEntry[]> {
    const bundles = await this.bundles.list(app, 1000);
    const entries: HistoryEntry[] = bundles.map((b) => ({
      at: b.pushedAt,
      by: b.pushedBy,
      type: 'push',
      app,
      version: b.version,
      env: null,
      detail: `pushed${b.label ? ` (label ${b.label})` : ''}, sha256 ${b.sha256.slice(0, 12)}`,
      note: null,
      deploymentId: null,
      triggeredBy: null,
    }));
    for (const d of await this.store.deployments.list({ app })) {
      entries.push({
        at: d.createdAt,
        by: d.createdBy,
        type: d.kind === 'rollback' ? 'rollback' : 'deployment',
        app,
        version: d.version,
        env: d.env,
        detail: `${d.kind} ${d.state}`,
        note: d.error,
        deploymentId: d.id,
        triggeredBy: d.triggeredBy,
      });
    }
    for (const v of await this.store.verdicts.listByApp(app)) {
      entries.push({
        at: v.at,
        by: v.by,
        type: 'verdict',
        app,
        version: v.version,
        env: null,
        detail: v.verdict,
        note: v.note,
        deploymentId: null,
        triggeredBy: null,
      });
    }
    // Installs outside a rollout: by hand (`ferry install`), and catch-ups of
    // hosts that were away or are new. A deployment's own installs are in its
    // line. A removed host is not listed any more, but still has its record.
    const envOf = new Map((await this.store.hosts.list()).map((h) => [h.id, h.env]));
    for (const i of await this.store.installs.list({ app })) {
      if (i.purpose !== 'install' && i.purpose !== 'catch-up') continue;
      entries.push({
        at: i.createdAt,
        by: i.createdBy,
        type: i.purpose,
        app,
        version: i.version,
        env: envOf.get(i.hostId) ?? (await this.store.hosts.get(i.hostId))?.env ?? null,
        detail: `${i.purpose === 'install' ? 'install by hand' : 'catch-up'} on ${i.host} ${i.state}`,
        note: i.error,
        deploymentId: i.deploymentId,
        triggeredBy: null,
      });
    }
    return entries;
  }

  private async hostStatus(
    host: HostRecord,
    app: string,
    desired: number | undefined,
  ): Promise<HostStatus> {
    const [last] = await this.store.installs.list({ hostId: host.id, app, limit: 1 });
    const version = reportedVersion(host, app);
    const changed = version === null ? undefined : await this.changedVariables(host, app, version);
    // Why catch-up leaves it ahead, when going back would cross migrations.
    const over =
      desired === undefined
        ? []
        : await migrationsBehind(this.store, app, host.env, desired, version);
    const probe = host.facts?.apps[app]?.health ?? null;
    return {
      host: host.name,
      connected: host.connected,
      version,
      health: !host.connected ? 'offline' : (probe ?? 'unknown'),
      lastInstall: last ? { id: last.id, version: last.version, state: last.state } : null,
      ...(changed === undefined ? {} : { changedVariables: changed }),
      ...(over.length === 0
        ? {}
        : { aheadOverMigrations: over.map((m) => m.version).sort((a, b) => a - b) }),
    };
  }

  /**
   * The variables whose value today differs from the snapshot the host's running
   * release was last started with (its newest succeeded install of that
   * version); undefined when there is no such snapshot or today's values do not
   * resolve (two roles disagree).
   */
  private async changedVariables(
    host: HostRecord,
    app: string,
    version: number,
  ): Promise<string[] | undefined> {
    if (!this.variables) return undefined;
    const [install] = await this.store.installs.list({
      hostId: host.id,
      app,
      version,
      states: [...TOOK_RELEASE_INSTALL_STATES],
      limit: 1,
    });
    const snapshot = install && (await this.store.installs.getSnapshot(install.id));
    if (!snapshot) return undefined;
    try {
      return changedSince(snapshot, await this.variables.resolveFor(host, undefined, app));
    } catch (err) {
      if (err instanceof FerryError) return undefined;
      throw err;
    }
  }
}
