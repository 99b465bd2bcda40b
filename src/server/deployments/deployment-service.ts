import type { BundleDetail, Role, StartedDeployment } from '../../protocol/api.js';
import { historyEvent } from '../history-event.js';
import type {
  DeployBody,
  DeploymentKind,
  DeploymentListQuery,
  DeploymentLogs,
  DeploymentRecord,
  PromoteBody,
  RollbackBody,
} from '../../protocol/deployment-api.js';
import { FerryError } from '../../protocol/errors.js';
import {
  deploymentStatesBefore,
  isActiveDeployment,
  LANDED_DEPLOYMENT_STATES,
  mayDeploymentMove,
  QUEUED_DEPLOYMENT_STATES,
} from '../../protocol/lifecycle.js';
import type { DeployLock, Store, StoredDeployment } from '../../store/store.js';
import type { BundleService } from '../bundle-service.js';
import { DeveloperKeys } from '../developer-keys.js';
import { type EnvironmentConfig, isProtected } from '../environment-config.js';
import type { ResolvedVariables, VariableService } from '../variable-service.js';
import { requireRole } from '../token-service.js';
import { requireVerdict, type VerdictService } from '../verdict-service.js';
import { resumeDeployment, rollBackBakingDeployment } from './bake-decisions.js';
import { clearDegradedAlert } from './bake-watch.js';
import { ConfigSnapshots } from './config-snapshots.js';
import { toDeploymentRecord } from './deployment-record.js';
import { assertInstallJobsFit } from './install-dispatcher.js';
import { goOnByHand, refuseOverMigrations } from './migration-gate.js';
import { newId, planInstalls, roleOf, targetHosts } from './rollout-plan.js';

/** Who asks: a token's name, role and environment binding. */
export interface Caller {
  name: string;
  role: Role;
  env: string | null;
}

/** Who a deployment is recorded as started by, and who set it off when that was a policy. */
interface Actor {
  createdBy: string;
  triggeredBy: string | null;
}

/**
 * An automatic deployment is the environment's own doing, by its policy; the
 * person whose push or verdict set it off is kept beside it. A deployer token
 * bound to `dev` that pushes does not deploy to `qa` itself: `qa`'s
 * `autoDeploy` does, as configured by the operator.
 */
function policyActor(env: string, policy: 'autoDeploy' | 'autoPromote', by: string): Actor {
  return { createdBy: `policy:${env}/${policy}`, triggeredBy: by };
}

/**
 * Creates deployments — `ferry deploy`, `promote`, `rollback`, and the automatic
 * ones (a push to an environment with `autoDeploy`, a bundle marked passed
 * for one with `autoPromote`) — after the checks that must pass before any host
 * is touched: the caller's role, the verdict the environment requires, every
 * variable the manifest uses, and the lock of the app in that environment.
 * The rollout itself is the `RolloutDriver`'s.
 *
 * @example
 *   const deployment = await deployments.deploy(caller, { app: 'cart', version: 12, env: 'qa' });
 */
export class DeploymentService {
  private readonly snapshots: ConfigSnapshots;

  constructor(
    private readonly store: Store,
    private readonly environments: readonly EnvironmentConfig[],
    private readonly bundles: Pick<BundleService, 'get'>,
    private readonly variables: Pick<VariableService, 'checkDeployable'>,
    private readonly verdicts: Pick<VerdictService, 'verdictOf' | 'markByServer'>,
    private readonly developerKeys: Pick<DeveloperKeys, 'checkEntry'> = new DeveloperKeys({}),
  ) {
    this.snapshots = new ConfigSnapshots(store, variables);
  }

  /**
   * An install of a deployment ended: a host catching up may complete a
   * `partial` deployment; and a failed install of the bundle in an environment
   * with `autoDeploy` marks the bundle failed, with the reason — QA need not
   * test what did not install. (The driver hears the install's end on the bus.)
   *
   * Idempotent: it runs again for an agent's report delivered again (the
   * replica that recorded the end may have died before this ran), so a
   * deployment completes once, and the verdict is marked only if nobody — this
   * or a person — recorded one since the install ended.
   */
  async installFinished(installId: string): Promise<void> {
    const install = await this.store.installs.get(installId);
    if (!install?.deploymentId) return;
    if (install.purpose !== 'deploy' && install.purpose !== 'catch-up') return;
    const deployment = await this.store.deployments.get(install.deploymentId);
    if (!deployment || install.version !== deployment.version) return;
    // A host catching up, or one the rollout gave up on that ran the job after all.
    if (install.state === 'succeeded') return this.completeIfCaughtUp(deployment);
    if (install.state !== 'failed') return;
    const env = this.environments.find((e) => e.name === deployment.env);
    if (!env?.autoDeploy) return;
    await this.verdicts.markByServer(
      install.app,
      install.version,
      'failed',
      `install failed on ${install.host} in ${deployment.env}: ${install.error ?? 'unknown error'}`,
      install.finishedAt ?? new Date().toISOString(),
    );
  }

  /**
   * A deployment that ended with hosts left undone (`partial`: they were away)
   * finishes when they do: once every host it left undone has caught up to its
   * release (a catch-up recorded in the same deployment, or the rollout's own
   * install that its host ran after all), it becomes `succeeded`. Only while
   * its release is still the environment's desired one.
   */
  private async completeIfCaughtUp(deployment: StoredDeployment): Promise<void> {
    if (isActiveDeployment(deployment.state)) return;
    if (!mayDeploymentMove(deployment.state, 'succeeded')) return;
    const [desired] = await this.store.deployments.listDesiredReleases({
      env: deployment.env,
      app: deployment.app,
    });
    if (desired?.deploymentId !== deployment.id) return;
    const installs = await this.store.installs.list({ deploymentId: deployment.id });
    const caughtUp = new Set(
      installs
        .filter((i) => i.purpose === 'catch-up' && i.state === 'succeeded')
        .filter((i) => i.version === deployment.version)
        .map((i) => i.hostId),
    );
    // The rollout's own installs: a host given up on that ran its job after all is done too.
    const undone = installs.filter(
      (i) => i.purpose === 'deploy' && i.state !== 'succeeded' && !caughtUp.has(i.hostId),
    );
    if (undone.length > 0) return;
    await this.store.deployments.update(
      deployment.id,
      { state: 'succeeded', finishedAt: new Date().toISOString(), error: null },
      { from: deploymentStatesBefore('succeeded').filter((s) => !isActiveDeployment(s)) },
    );
  }

  /** `ferry deploy`: refused with `E_DEPLOY_LOCKED` when another one holds the app's lock there. */
  async deploy(
    caller: Caller,
    body: DeployBody,
    kind: DeploymentKind = 'deploy',
  ): Promise<DeploymentRecord> {
    const env = this.environment(body.env);
    authorizeDeploy(caller, env);
    const bundle = await this.bundles.get(body.app, body.version);
    await this.checkVerdict(bundle, env);
    // Going back by `deploy` is a rollback by another name: it asks the same.
    if (body.confirmMigrations !== true)
      await this.refuseOverMigrations(body.app, env.name, body.version);
    return this.create(caller.name, bundle, env, kind, {
      queue: false,
      refresh: body.refreshVars === true,
      confirmedMigrations: body.confirmMigrations === true,
    });
  }

  /** `ferry promote`: to the environment after the last one where the bundle landed. */
  async promote(caller: Caller, body: PromoteBody): Promise<DeploymentRecord> {
    // Who may not deploy anywhere is told so before anything is looked up.
    requireRole(caller, 'admin', 'deployer');
    const bundle = await this.bundles.get(body.app, body.version);
    const env = await this.promotionTarget(bundle);
    authorizeDeploy(caller, env);
    await this.checkVerdict(bundle, env);
    // Promoting an older bundle where a newer one migrated goes back: it asks the same.
    if (body.confirmMigrations !== true)
      await this.refuseOverMigrations(bundle.app, env.name, bundle.version);
    return this.create(caller.name, bundle, env, 'promote', {
      queue: false,
      confirmedMigrations: body.confirmMigrations === true,
    });
  }

  /**
   * `ferry rollback`: deploys the newest bundle that landed in the environment
   * before the one it should run now, or the one named with `to`.
   */
  async rollback(
    caller: Caller,
    body: RollbackBody,
    goOn = 'pass --yes to go back anyway',
  ): Promise<DeploymentRecord> {
    const env = this.environment(body.env);
    authorizeDeploy(caller, env);
    const version = body.to ?? (await this.previousLanded(body.app, env.name));
    const bundle = await this.bundles.get(body.app, version);
    await this.checkVerdict(bundle, env);
    if (body.confirmMigrations !== true)
      await this.refuseOverMigrations(body.app, env.name, version, goOn);
    return this.create(caller.name, bundle, env, 'rollback', {
      queue: false,
      refresh: body.refreshVars === true,
      confirmedMigrations: body.confirmMigrations === true,
    });
  }

  /**
   * Refuses, with `E_ROLLBACK_OVER_MIGRATIONS`, to bring `version` back to an
   * environment where migrations of later versions ran since it was last there.
   */
  private refuseOverMigrations(
    app: string,
    env: string,
    version: number,
    goOn?: string,
  ): Promise<void> {
    return refuseOverMigrations(this.store, app, env, version, goOn);
  }

  /**
   * After a push: deploys the new bundle to each environment with `autoDeploy`
   * whose verdict gate it passes. One that finds the lock taken waits its turn
   * (a newer push replaces it in the queue); one whose variables are missing is
   * recorded as failed, with the reason. Never throws: the push has succeeded.
   */
  async afterPush(bundle: BundleDetail, pushedBy: string): Promise<StartedDeployment[]> {
    const started: StartedDeployment[] = [];
    for (const env of this.environments.filter((e) => e.autoDeploy && e.requires === null)) {
      started.push(
        await this.attempt(env.name, 'auto-deploy', () =>
          this.create(policyActor(env.name, 'autoDeploy', pushedBy), bundle, env, 'auto-deploy', {
            queue: true,
          }),
        ),
      );
    }
    return started;
  }

  /**
   * Checks, before a verdict is recorded, that the caller may roll back every
   * environment a `--rollback` would touch: those whose desired release is this
   * bundle. Returns them.
   */
  async rollbackTargets(caller: Caller, app: string, version: number): Promise<string[]> {
    const desired = await this.store.deployments.listDesiredReleases({ app });
    const order = this.environments.map((e) => e.name);
    const envs = desired
      .filter((d) => d.version === version)
      .map((d) => d.env)
      .sort((a, b) => order.indexOf(a) - order.indexOf(b));
    for (const env of envs) authorizeDeploy(caller, this.environment(env));
    return envs;
  }

  /**
   * After a verdict: a bundle marked failed with `rollback` is rolled back in
   * `rollbackEnvs` (across migrations only with `confirmMigrations`, as
   * `ferry rollback --yes`); one marked passed is deployed to the environment it
   * would be promoted to, when that one has `autoPromote` — unless that would go
   * back across migrations that ran there: nobody is there to say yes, so the
   * auto-promotion is recorded as failed, with why and how to promote by hand.
   * Never throws: the verdict is recorded; each deployment that could not start
   * says why.
   */
  async afterVerdict(
    caller: Caller,
    app: string,
    version: number,
    verdict: 'passed' | 'failed',
    rollbackEnvs: string[],
    options: { confirmMigrations?: boolean } = {},
  ): Promise<StartedDeployment[]> {
    if (verdict === 'failed') {
      const started: StartedDeployment[] = [];
      const confirm = options.confirmMigrations === true ? { confirmMigrations: true } : {};
      for (const env of rollbackEnvs) {
        started.push(
          await this.attempt(env, 'rollback', () =>
            this.rollback(
              caller,
              { app, env, ...confirm },
              `pass --yes to go back anyway (ferry mark ${app}@${version} failed --rollback --yes)`,
            ),
          ),
        );
      }
      return started;
    }
    const bundle = await this.bundles.get(app, version);
    let env: EnvironmentConfig;
    try {
      env = await this.promotionTarget(bundle);
    } catch (err) {
      if (err instanceof FerryError) return [];
      throw err;
    }
    if (!env.autoPromote) return [];
    return [
      await this.attempt(env.name, 'auto-promote', async () => {
        await this.checkVerdict(bundle, env);
        return this.create(
          policyActor(env.name, 'autoPromote', caller.name),
          bundle,
          env,
          'auto-promote',
          {
            queue: true,
            refuseOverMigrations: goOnByHand({
              kind: 'auto-promote',
              app: bundle.app,
              version: bundle.version,
              env: env.name,
            }),
          },
        );
      }),
    ];
  }

  /** Runs one deployment that something else started, turning a refusal into its summary. */
  private async attempt(
    env: string,
    kind: DeploymentKind,
    start: () => Promise<DeploymentRecord>,
  ): Promise<StartedDeployment> {
    try {
      const d = await start();
      return { env, id: d.id, version: d.version, kind, state: d.state, error: d.error };
    } catch (err) {
      if (!(err instanceof FerryError)) throw err;
      return { env, id: null, version: null, kind, state: null, error: err.message };
    }
  }

  /**
   * Cancels a deployment: no new install is sent; hosts sent one they have not
   * started decline it; installs already running finish, and each install's
   * record says what its host got. The environment's desired release stays what
   * it was before (a host that did get the new version is ahead of it), and
   * catch-up installs nothing on account of this deployment. The same holds
   * while a failed rollout puts hosts back: a revert under way finishes, the
   * others are not sent, and their hosts stay on the new version, ahead.
   */
  async cancel(caller: Caller, id: string): Promise<DeploymentRecord> {
    const deployment = await this.stored(id);
    authorizeDeploy(caller, this.environment(deployment.env));
    // Cancelled while a failed rollout put hosts back: why it stopped still holds.
    const error =
      deployment.phase === 'reverting' && deployment.error
        ? `${deployment.error}; cancelled by ${caller.name} while hosts were being put back`
        : `cancelled by ${caller.name}`;
    // Its installs no host has begun are cancelled in the same step: none can be
    // sent, or told to go ahead, once the deployment is cancelled. One running finishes.
    const cancelled =
      isActiveDeployment(deployment.state) &&
      (await this.store.deployments.update(
        id,
        { state: 'cancelled', finishedAt: new Date().toISOString(), error },
        {
          from: deploymentStatesBefore('cancelled'),
          cancelUnstarted: { error: `the deployment was cancelled by ${caller.name}` },
        },
      ));
    if (!cancelled) {
      const state = (await this.stored(id)).state;
      throw new FerryError(
        'E_DEPLOYMENT_FINISHED',
        `Deployment ${id} has already ended (${state})`,
        {
          id,
          state,
        },
      );
    }
    await this.store.deployments.releaseLock(deployment.app, deployment.env, id);
    await clearDegradedAlert(this.store, id, 'the deployment ended cancelled');
    await this.store.history.record(
      historyEvent({
        type: 'cancel',
        by: caller.name,
        app: deployment.app,
        version: deployment.version,
        env: deployment.env,
        deploymentId: id,
        detail: `cancelled ${deployment.kind} (was ${deployment.state})`,
      }),
    );
    // The driver hears the deployment.state event, on whichever replica holds the lease.
    return this.get(id);
  }

  /**
   * Resumes a deployment paused after a bad bake (`ferry deployments resume`):
   * it goes on as it is. Who may cancel it may resume it.
   */
  async resume(caller: Caller, id: string): Promise<DeploymentRecord> {
    const deployment = await this.stored(id);
    authorizeDeploy(caller, this.environment(deployment.env));
    await resumeDeployment(this.store, deployment, caller.name);
    return this.get(id);
  }

  /**
   * Rolls back a deployment that is baking or paused (`ferry deployments
   * rollback`): its hosts done go back. Who may cancel it may roll it back.
   */
  async rollBackBaking(caller: Caller, id: string): Promise<DeploymentRecord> {
    const deployment = await this.stored(id);
    authorizeDeploy(caller, this.environment(deployment.env));
    await rollBackBakingDeployment(this.store, deployment, caller.name);
    return this.get(id);
  }

  /** A deployment with its installs, each with the variables it was sent with (secrets masked). */
  async get(id: string): Promise<DeploymentRecord> {
    const deployment = await this.stored(id);
    const record = toDeploymentRecord(
      deployment,
      await this.store.installs.list({ deploymentId: id }),
    );
    for (const install of record.installs)
      install.variables = await this.snapshots.shown(install.id);
    return record;
  }

  /** Deployments, newest first, with their installs. */
  async list(query: DeploymentListQuery): Promise<DeploymentRecord[]> {
    const deployments = await this.store.deployments.list({
      ...(query.app === undefined ? {} : { app: query.app }),
      ...(query.env === undefined ? {} : { env: query.env }),
      limit: query.limit ?? 20,
    });
    return Promise.all(
      deployments.map(async (d) =>
        toDeploymentRecord(d, await this.store.installs.list({ deploymentId: d.id })),
      ),
    );
  }

  /** Every install's step output, host by host; `host` keeps one host's. */
  async logs(id: string, host?: string): Promise<DeploymentLogs> {
    await this.stored(id);
    const installs = (await this.store.installs.list({ deploymentId: id }))
      .filter((i) => host === undefined || i.host === host)
      .reverse();
    if (host !== undefined && installs.length === 0) {
      throw new FerryError('E_HOST_NOT_FOUND', `Deployment ${id} has no install on ${host}`, {
        id,
        host,
      });
    }
    return {
      deploymentId: id,
      installs: await Promise.all(
        installs.map(async (install) => ({
          installId: install.id,
          host: install.host,
          version: install.version,
          purpose: install.purpose,
          state: install.state,
          steps: (await this.store.installs.logs(install.id))?.steps ?? [],
        })),
      ),
    };
  }

  private async create(
    actor: string | Actor,
    bundle: BundleDetail,
    env: EnvironmentConfig,
    kind: DeploymentKind,
    options: {
      queue: boolean;
      refresh?: boolean;
      /** Refused (recorded as failed when queued) when going back across migrations; says how to go on. */
      refuseOverMigrations?: string;
      /** Whoever started it said yes to going back across migrations (`--yes`). */
      confirmedMigrations?: boolean;
    },
  ): Promise<DeploymentRecord> {
    const id = newId('dep');
    const desired = (
      await this.store.deployments.listDesiredReleases({ env: env.name, app: bundle.app })
    )[0];
    const deployment = {
      id,
      app: bundle.app,
      version: bundle.version,
      env: env.name,
      kind,
      strategy: env.strategy,
      fromVersion: desired?.version ?? null,
      // A queued one resolves its variables when it starts, as it was asked to now.
      refreshVars: options.refresh === true,
      // A queued one is checked again when it starts, unless this says yes.
      migrationsConfirmed: options.confirmedMigrations === true,
      ...(typeof actor === 'string' ? { createdBy: actor, triggeredBy: null } : actor),
    };
    const hosts = targetHosts(await this.store.hosts.list(), env.name, roleOf(bundle));
    let frozen: Map<string, ResolvedVariables>;
    try {
      // The signatures the environment requires, whoever asks (a person, autoDeploy,
      // autoPromote, a rollback): checked over the bundle's record as it is now.
      this.developerKeys.checkEntry(bundle, env);
      // Every ${NAME} must be set for every target host, and every host's job must
      // fit in a transport message, before anything is recorded or sent. What is
      // resolved here is frozen: the installs are sent with it.
      if (options.refuseOverMigrations !== undefined)
        await this.refuseOverMigrations(
          bundle.app,
          env.name,
          bundle.version,
          options.refuseOverMigrations,
        );
      frozen = await this.snapshots.forDeployment(bundle, env.name, hosts, {
        refresh: options.refresh === true,
      });
      assertInstallJobsFit(bundle, hosts, frozen);
    } catch (err) {
      if (!(err instanceof FerryError) || !options.queue) throw err;
      // Nobody waits on an automatic deployment: record why it did not happen.
      await this.store.deployments.create(
        { ...deployment, state: 'failed', error: err.message },
        [],
        { lock: false },
      );
      return this.get(id);
    }
    const installs = planInstalls(deployment, env.strategy, hosts);
    // The snapshots are recorded with the installs, in one transaction, so that
    // no replica sends an install without its own; a deployment the lock
    // refuses records neither.
    const created = await this.store.deployments.create(
      { ...deployment, state: 'running' },
      installs,
      {
        lock: true,
        snapshots: installs.map((i) => ({ installId: i.id, snapshot: frozen.get(i.hostId)! })),
      },
    );
    if (!created.created) {
      if (!options.queue) throw await this.lockedError(created.holder);
      // Queued behind the holder, replacing whatever older one waited there.
      for (const waiting of await this.store.deployments.list({
        app: bundle.app,
        env: env.name,
        states: [...QUEUED_DEPLOYMENT_STATES],
      })) {
        await this.store.deployments.update(
          waiting.id,
          {
            state: 'cancelled',
            finishedAt: new Date().toISOString(),
            error: `superseded by ${bundle.app}@${bundle.version} before it started`,
          },
          { from: QUEUED_DEPLOYMENT_STATES },
        );
      }
      await this.store.deployments.create({ ...deployment, state: 'pending' }, [], { lock: false });
    }
    // The driver of this replica hears the deployment.created event (onLocal).
    return this.get(id);
  }

  private async lockedError(holder: DeployLock): Promise<FerryError> {
    const deployment = await this.store.deployments.get(holder.deploymentId);
    const what = deployment
      ? `${deployment.app}@${deployment.version} by ${deployment.createdBy}`
      : 'another deployment';
    // One paused after a bad bake waits for a person: waiting for its lock waits for ever.
    const id = holder.deploymentId;
    const baking =
      deployment?.state === 'paused'
        ? `; it is paused after a bad bake: ferry deployments resume ${id} or ferry deployments rollback ${id}`
        : deployment?.state === 'baking'
          ? `; it is baking until ${deployment.bake?.until ?? 'its bake ends'} (ferry deployments rollback ${id} ends it now)`
          : '';
    return new FerryError(
      'E_DEPLOY_LOCKED',
      `${holder.app} in ${holder.env} is being deployed: ${id} (${what}) holds the lock since ${holder.since}${baking}`,
      {
        app: holder.app,
        env: holder.env,
        holder: id,
        since: holder.since,
        by: deployment?.createdBy ?? null,
        version: deployment?.version ?? null,
        state: deployment?.state ?? null,
      },
    );
  }

  private async checkVerdict(bundle: BundleDetail, env: EnvironmentConfig): Promise<void> {
    const has = await this.verdicts.verdictOf(bundle.app, bundle.version);
    requireVerdict(has, env.requires, env.name, `${bundle.app}@${bundle.version}`);
  }

  /**
   * The environment after the last one, in lifecycle order, where the bundle
   * landed — or that last one itself when it has since gone back to an older
   * release (rolled back): promoting the bundle again deploys it there again.
   */
  private async promotionTarget(bundle: BundleDetail): Promise<EnvironmentConfig> {
    const landed = await this.store.deployments.list({
      app: bundle.app,
      states: [...LANDED_DEPLOYMENT_STATES],
    });
    const envs = new Set(landed.filter((d) => d.version === bundle.version).map((d) => d.env));
    const last = this.environments.reduce(
      (found, env, index) => (envs.has(env.name) ? index : found),
      -1,
    );
    const ref = `${bundle.app}@${bundle.version}`;
    if (last === -1) {
      throw new FerryError(
        'E_NOTHING_TO_PROMOTE',
        `${ref} has not succeeded in any environment yet; deploy it first (ferry deploy ${ref} --env ${this.environments[0]!.name})`,
        { bundle: ref },
      );
    }
    const lastEnv = this.environments[last]!;
    const [desired] = await this.store.deployments.listDesiredReleases({
      env: lastEnv.name,
      app: bundle.app,
    });
    if (desired && desired.version < bundle.version) return lastEnv;
    const next = this.environments[last + 1];
    if (!next) {
      throw new FerryError(
        'E_NOTHING_TO_PROMOTE',
        `${ref} is already in ${this.environments[last]!.name}, the last environment`,
        { bundle: ref, env: this.environments[last]!.name },
      );
    }
    return next;
  }

  /** The newest version that landed in an environment before the one it should run now. */
  private async previousLanded(app: string, env: string): Promise<number> {
    const [desired] = await this.store.deployments.listDesiredReleases({ env, app });
    const landed = await this.store.deployments.list({
      app,
      env,
      states: [...LANDED_DEPLOYMENT_STATES],
    });
    const previous = landed.find((d) => d.version !== desired?.version);
    if (!previous) {
      throw new FerryError(
        'E_NOTHING_TO_ROLL_BACK',
        desired
          ? `${app} has run only ${app}@${desired.version} in ${env}: there is nothing earlier to go back to`
          : `${app} has never been deployed to ${env}`,
        { app, env },
      );
    }
    return previous.version;
  }

  private environment(name: string): EnvironmentConfig {
    const env = this.environments.find((e) => e.name === name);
    if (!env) {
      throw new FerryError(
        'E_ENV_NOT_FOUND',
        `No environment named ${name}; this server has ${this.environments.map((e) => e.name).join(', ')}`,
        { env: name, environments: this.environments.map((e) => e.name) },
      );
    }
    return env;
  }

  private async stored(id: string): Promise<StoredDeployment> {
    const deployment = await this.store.deployments.get(id);
    if (!deployment) {
      throw new FerryError('E_DEPLOYMENT_NOT_FOUND', `No deployment ${id}`, { id });
    }
    return deployment;
  }
}

/**
 * Who may deploy to and roll back an environment: an admin anywhere; a deployer
 * where it is not protected (prod, by default), and only in its own environment
 * when its token is bound to one. Anyone else gets a 403 naming the role needed.
 */
export function authorizeDeploy(caller: Caller, env: EnvironmentConfig): void {
  if (caller.role === 'admin') return;
  const guarded = isProtected(env);
  const needs: Role[] = guarded ? ['admin'] : ['admin', 'deployer'];
  if (caller.role !== 'deployer' || guarded) {
    throw new FerryError(
      'E_FORBIDDEN',
      `Deploying to ${env.name} needs a token with the ${needs.join(' or ')} role; yours has the ${caller.role} role`,
      { needs, has: caller.role, env: env.name },
    );
  }
  if (caller.env !== null && caller.env !== env.name) {
    throw new FerryError(
      'E_FORBIDDEN',
      `This token is for the ${caller.env} environment, not ${env.name}`,
      { needs, has: caller.role, tokenEnv: caller.env, env: env.name },
    );
  }
}
