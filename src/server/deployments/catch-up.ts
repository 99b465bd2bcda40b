import { createHash } from 'node:crypto';
import type { HostRecord } from '../../protocol/api.js';
import {
  hasRun,
  isCancelledDeployment,
  isOpenInstall,
  tookRelease,
} from '../../protocol/lifecycle.js';
import type { Store, StoredInstall } from '../../store/store.js';
import type { BundleService } from '../bundle-service.js';
import { missedConfiguration } from './config-snapshots.js';
import type { InstallDispatcher } from './install-dispatcher.js';
import { migrationsBehind } from './migration-gate.js';
import { reportedVersion, roleOf } from './rollout-plan.js';

/** The few logging calls it makes. */
interface Logger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

/** Who the records name for installs the server started by itself. */
export const CATCH_UP_ACTOR = 'ferry (catch-up)';

/**
 * Brings hosts to the desired release of their environment by themselves: a
 * host that was offline during a rollout, and a host that has just enrolled —
 * and a host that was offline during a `--refresh-vars` deployment of the
 * release it runs, to that deployment's configuration.
 * It runs when a host reports its facts (on connecting and every 30 s) and when
 * a deployment ends. A catch-up is recorded as an install of the deployment
 * that set the desired release, and starts with the snapshot that deployment
 * froze for the host (`ConfigSnapshots.forCatchUp`), never today's variables
 * when the deployment had planned the host.
 *
 * It leaves a host alone while its agent is busy with a job, while a deployment
 * of the app holds the environment's lock (the rollout deals with its hosts),
 * while another install of the app is under way there, when its newest install
 * was made by hand (`ferry install`: kept until the next deployment), and when
 * its newest install of the desired release ended — succeeded (the facts are
 * older than it) or failed (trying the same again in a loop would help nobody;
 * the next deployment will) — and when its newest install came from a
 * deployment a person cancelled: it never installs what a person cancelled,
 * nor undoes what that deployment's running installs did — nor the reverts it
 * did not send, when it was cancelled while putting hosts back — and when
 * taking it back to the desired release would cross migrations that ran in the
 * environment (`migrationsBehind`): it only ever brings a host to a release whose
 * migrations ran there, never back over them.
 */
export class CatchUp {
  /** Hosts being looked at in this process: facts that arrive close together are handled once. */
  private readonly inProgress = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly bundles: Pick<BundleService, 'get'>,
    private readonly dispatcher: InstallDispatcher,
    private readonly logger: Logger,
  ) {}

  /** Looks at one host, by id. */
  async host(hostId: string): Promise<void> {
    if (this.inProgress.has(hostId)) return;
    this.inProgress.add(hostId);
    try {
      const host = await this.store.hosts.get(hostId);
      if (host && host.facts?.busy == null) await this.converge(host);
    } finally {
      this.inProgress.delete(hostId);
    }
  }

  /** Looks at every connected host of an environment (a deployment there has ended). */
  async environment(env: string): Promise<void> {
    for (const host of await this.store.hosts.list({ env })) {
      if (host.connected) await this.host(host.id);
    }
  }

  /**
   * True when the install came from a deployment a person cancelled, and the
   * host keeps what that deployment left it: the release its install took, or
   * — its going back cancelled while a failed rollout put hosts back — the
   * deployment's release, which it still runs.
   */
  private async keptFromCancelled(
    install: StoredInstall | undefined,
    current: number | null,
  ): Promise<boolean> {
    if (!install?.deploymentId) return false;
    const deployment = await this.store.deployments.get(install.deploymentId);
    if (!deployment || !isCancelledDeployment(deployment.state)) return false;
    return tookRelease(install.state) || current === deployment.version;
  }

  private async converge(host: HostRecord): Promise<void> {
    for (const desired of await this.store.deployments.listDesiredReleases({ env: host.env })) {
      const bundle = await this.bundles.get(desired.app, desired.version);
      if (!host.roles.includes(roleOf(bundle))) continue;
      const current = reportedVersion(host, desired.app);
      // On the desired version already, unless with another configuration than
      // its deployment froze for it (a `--refresh-vars` deployment it missed).
      if (
        current === desired.version &&
        !(await missedConfiguration(
          this.store,
          desired.deploymentId,
          desired.app,
          desired.version,
          host.id,
        ))
      )
        continue;
      if (await this.store.deployments.getLock(desired.app, host.env)) continue;
      const installs = await this.store.installs.list({ hostId: host.id, app: desired.app });
      if (installs.some((i) => isOpenInstall(i.state))) continue;
      const newest = installs[0];
      // A host someone installed by hand (`ferry install`) keeps what they chose
      // until the next deployment there.
      if (newest?.purpose === 'install') continue;
      if (newest && newest.version === desired.version && hasRun(newest.state)) continue;
      // A host that got a release from a deployment a person cancelled (it was
      // already installing, or its going back was cancelled) keeps it until the
      // next deployment: it is ahead of the desired release, and going back is
      // for a person to ask.
      if (await this.keptFromCancelled(newest, current)) continue;
      // A host ahead on a release whose migrations ran here (its migrator ran
      // them after the rollout gave up on it, say) is not taken back across
      // them: going back asks for a yes, and nobody is here to give it. It stays
      // ahead until the next deployment; `ferry status` says why.
      const behind = await migrationsBehind(
        this.store,
        desired.app,
        host.env,
        desired.version,
        current,
      );
      if (behind.length > 0) {
        this.logger.info(
          { host: host.name, app: desired.app, version: current, desired: desired.version },
          'left a host ahead of the desired release: going back would cross migrations',
        );
        continue;
      }
      // Read again now that no deployment holds the lock: the desired release
      // read above may be older than the lock's release (a deployment ending
      // meanwhile sets the new one, then lets the lock go), and the host it
      // has just brought up would be taken back to the old one.
      const still = (await this.store.deployments.listDesiredReleases({ env: host.env })).find(
        (d) => d.app === desired.app,
      );
      if (still?.deploymentId !== desired.deploymentId || still.version !== desired.version)
        continue;
      // The same id on every replica that sees these facts: of two racing, one insert wins.
      const id = `ins_${createHash('sha256')
        .update(`${desired.deploymentId}:${host.id}:${installs.length}`)
        .digest('hex')
        .slice(0, 16)}`;
      try {
        await this.store.installs.createMany([
          {
            id,
            hostId: host.id,
            app: desired.app,
            version: desired.version,
            createdBy: CATCH_UP_ACTOR,
            deploymentId: desired.deploymentId,
            purpose: 'catch-up',
            fromVersion: current,
            state: 'pending',
          },
        ]);
      } catch (err) {
        this.logger.info({ err, host: host.name, id }, 'another server is catching this host up');
        continue;
      }
      this.logger.info(
        { host: host.name, app: desired.app, version: desired.version, from: current },
        'catching a host up to the desired release',
      );
      const install = await this.store.installs.get(id);
      if (install) await this.dispatcher.send(install, bundle, host);
    }
  }
}
