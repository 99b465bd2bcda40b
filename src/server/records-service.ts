import { createHmac, randomBytes } from 'node:crypto';
import type { AppSummary, HostRecord } from '../protocol/api.js';
import {
  ACTIVE_DEPLOYMENT_STATES,
  isRollingOut,
  TOOK_RELEASE_INSTALL_STATES,
} from '../protocol/lifecycle.js';
import type { AppStatus, HistoryEntry, HostStatus } from '../protocol/deployment-api.js';
import { type MigrationRan, migrationsBehind } from './deployments/migration-gate.js';
import { FerryError } from '../protocol/errors.js';
import type { ServiceHealth } from '../store/health-store.js';
import type { ConfigSnapshot, InstallHead, Store } from '../store/store.js';
import type { BundleService } from './bundle-service.js';
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
    private readonly variables?: Pick<VariableService, 'resolverForAll'>,
    /** What `status` keeps of the configuration snapshots it read. */
    private readonly digests = new SnapshotDigests(),
  ) {}

  /**
   * The status of every app, or of one. What each host shows is read for all
   * hosts at once (its newest install, the snapshot its release started with,
   * today's variables), not with queries per host and app: a thousand hosts
   * running five apps each would otherwise cost tens of thousands of queries.
   */
  async status(app?: string): Promise<AppStatus[]> {
    const apps = (await this.store.bundles.listApps()).filter(
      (a) => app === undefined || a.name === app,
    );
    if (app !== undefined && apps.length === 0) await this.bundles.list(app); // E_APP_NOT_FOUND
    // Only looked at: each host's facts as read at their last change, not parsed again.
    const hosts = await this.store.hosts.list({ facts: 'shared' });
    const desired = await this.store.deployments.listDesiredReleases();
    const active = await this.store.deployments.list({ states: [...ACTIVE_DEPLOYMENT_STATES] });
    const newest = new Map(
      (await this.store.installs.listNewest(app === undefined ? {} : { app })).map((i) => [
        cellKey(i.hostId, i.app),
        i,
      ]),
    );
    const health = new Map(
      (await this.store.health.list(app === undefined ? {} : { app })).map((h) => [
        cellKey(h.hostId, h.app),
        h,
      ]),
    );
    const plans: { summary: AppSummary; role: string }[] = [];
    for (const summary of apps) {
      const latest = await this.bundles.get(summary.name, summary.latestVersion);
      plans.push({ summary, role: roleOf(latest) });
    }
    const changed = await this.changedVariables(
      plans.flatMap(({ summary, role }) =>
        this.environments.flatMap((env) =>
          targetHosts(hosts, env.name, role).map((host) => ({ host, app: summary.name })),
        ),
      ),
      app,
    );
    // Hosts ahead of one desired release ask which migrations they are over once.
    const migrationsAsked = new Map<string, Promise<MigrationRan[]>>();
    const out: AppStatus[] = [];
    for (const { summary, role } of plans) {
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
            targets.map((h) =>
              this.hostStatus(
                h,
                summary.name,
                wanted?.version,
                newest.get(cellKey(h.id, summary.name)),
                changed.get(cellKey(h.id, summary.name)),
                migrationsAsked,
                health.get(cellKey(h.id, summary.name)),
              ),
            ),
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
    last: InstallHead | undefined,
    changed: string[] | undefined,
    migrationsAsked: Map<string, Promise<MigrationRan[]>>,
    service: ServiceHealth | undefined,
  ): Promise<HostStatus> {
    const version = reportedVersion(host, app);
    // Why catch-up leaves it ahead, when going back would cross migrations.
    const over =
      desired === undefined
        ? []
        : await migrationsBehind(this.store, app, host.env, desired, version, migrationsAsked);
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
      service: service
        ? {
            state: service.state,
            version: service.version,
            since: service.since,
            answer: service.answer,
            restarts: service.restarts,
            at: service.at,
          }
        : null,
    };
  }

  /**
   * For each host and app it runs a release of: the variables whose value
   * today differs from the snapshot that release was last started with (its
   * newest succeeded install of that version); none for a host and app when
   * there is no such snapshot or today's values do not resolve (two roles
   * disagree). Keyed by `cellKey`; read for every host at once.
   */
  private async changedVariables(
    cells: { host: HostRecord; app: string }[],
    app: string | undefined,
  ): Promise<Map<string, string[]>> {
    const changed = new Map<string, string[]>();
    if (!this.variables) return changed;
    const running = cells.flatMap(({ host, app: name }) => {
      const version = reportedVersion(host, name);
      return version === null ? [] : [{ host, app: name, version }];
    });
    if (running.length === 0) return changed;
    const took = new Map(
      (
        await this.store.installs.listNewest({
          ...(app === undefined ? {} : { app }),
          states: [...TOOK_RELEASE_INSTALL_STATES],
          perVersion: true,
        })
      ).map((i) => [`${cellKey(i.hostId, i.app)}@${i.version}`, i.id]),
    );
    const installOf = (c: { host: HostRecord; app: string; version: number }) =>
      took.get(`${cellKey(c.host.id, c.app)}@${c.version}`);
    // A snapshot never changes once recorded: each is read (and decrypted) once,
    // and only its variables' keyed digests are kept.
    // Taken now: reading the others may drop some of the kept ones.
    const cached = new Map<string, ReadonlyMap<string, string>>();
    const unread: string[] = [];
    for (const cell of running) {
      const id = installOf(cell);
      if (id === undefined) continue;
      const digests = this.digests.get(id);
      if (digests) cached.set(id, digests);
      else unread.push(id);
    }
    // Those read now, also when more than are kept were read at once.
    const read = new Map(
      (await this.store.installs.getSnapshots(unread)).map(({ installId, snapshot }) => [
        installId,
        this.digests.keep(installId, snapshot),
      ]),
    );
    const resolveFor = await this.variables.resolverForAll();
    const today = this.digests.today();
    for (const cell of running) {
      const installId = installOf(cell);
      const kept =
        installId === undefined ? undefined : (read.get(installId) ?? cached.get(installId));
      if (!kept) continue;
      try {
        changed.set(
          cellKey(cell.host.id, cell.app),
          today.changedSince(kept, resolveFor(cell.host, cell.app).vars),
        );
      } catch (err) {
        if (err instanceof FerryError) continue;
        throw err;
      }
    }
    // Every running release was looked at: the digests of releases no longer
    // running go (they would otherwise stay until 20,000 were kept).
    if (app === undefined) this.digests.keepOnly(new Set([...read.keys(), ...cached.keys()]));
    return changed;
  }
}

/** One host and app, as a key. */
function cellKey(hostId: string, app: string): string {
  return `${hostId}\0${app}`;
}

/** How many snapshots' digests `status` keeps: a few per host of a thousand-host fleet. */
export const SNAPSHOT_DIGESTS_KEPT = 20_000;

/**
 * Each variable of a configuration snapshot by name, as a keyed digest of its
 * value (HMAC-SHA256 under a key made at start and never written anywhere):
 * what `status` needs to tell which variables changed since a host's release
 * started, without keeping any value, a secret's or another. `status` read and
 * decrypted every running host's snapshot at each request (a thousand per
 * request with a thousand hosts); a snapshot never changes once recorded, so
 * each is read once. The most recently used `size` are kept.
 */
export class SnapshotDigests {
  private readonly key = randomBytes(32);
  private readonly kept = new Map<string, ReadonlyMap<string, string>>();

  constructor(private readonly size = SNAPSHOT_DIGESTS_KEPT) {}

  /** Forgets every snapshot but these. */
  keepOnly(installIds: ReadonlySet<string>): void {
    for (const id of this.kept.keys()) if (!installIds.has(id)) this.kept.delete(id);
  }

  get(installId: string): ReadonlyMap<string, string> | undefined {
    const digests = this.kept.get(installId);
    if (digests) {
      // Most recently used last: the first is the one to drop.
      this.kept.delete(installId);
      this.kept.set(installId, digests);
    }
    return digests;
  }

  /** Keeps a snapshot's digests, and gives them. */
  keep(installId: string, snapshot: ConfigSnapshot): ReadonlyMap<string, string> {
    const digests = new Map<string, string>();
    for (const [name, value] of Object.entries(snapshot.vars))
      digests.set(name, this.digest(value));
    this.kept.delete(installId);
    this.kept.set(installId, digests);
    if (this.kept.size > this.size) this.kept.delete(this.kept.keys().next().value!);
    return digests;
  }

  /**
   * A comparer for one request: today's values, mostly the same on every
   * host, are digested once each.
   */
  today(): {
    changedSince(kept: ReadonlyMap<string, string>, today: Record<string, string>): string[];
  } {
    const seen = new Map<string, string>();
    const digestOf = (value: string) => {
      let digest = seen.get(value);
      if (digest === undefined) {
        digest = this.digest(value);
        seen.set(value, digest);
      }
      return digest;
    };
    return {
      // The names whose value differs today (a secret's too, compared on the
      // server, never shown), or that are no longer set; sorted.
      changedSince: (kept, today) =>
        [...kept]
          .filter(
            ([name, digest]) => !Object.hasOwn(today, name) || digestOf(today[name]!) !== digest,
          )
          .map(([name]) => name)
          .sort(),
    };
  }

  private digest(value: string): string {
    // 128 bits tell a changed value apart as well, in half the memory.
    return createHmac('sha256', this.key).update(value).digest().toString('base64', 0, 16);
  }
}
