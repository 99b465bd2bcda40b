import type { BundleDetail, StartedDeployment } from '../../protocol/api.js';
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
import type { Store, StoredDeployment } from '../../store/store.js';
import type { BundleService } from '../bundle-service.js';
import { DeveloperKeys } from '../developer-keys.js';
import type { EnvironmentConfig } from '../environment-config.js';
import type { VariableService } from '../variable-service.js';
import { requireRole } from '../token-service.js';
import { requireVerdict, type VerdictService } from '../verdict-service.js';
import { resumeDeployment, rollBackBakingDeployment } from './bake-decisions.js';
import { cancelDeployment } from './cancel-deployment.js';
import { ConfigSnapshots } from './config-snapshots.js';
import {
  type Actor,
  createDeployment,
  type CreateDeploymentOptions,
  policyActor,
} from './create-deployment.js';
import { authorizeDeploy, type Caller } from './deploy-authorization.js';
import {
  deploymentLogs,
  deploymentRecord,
  listDeployments,
  storedDeployment,
} from './deployment-reads.js';
import { previousLanded, promotionTarget } from './deployment-targets.js';
import { goOnByHand, refuseOverMigrations } from './migration-gate.js';
import { completeIfCaughtUp } from './partial-completion.js';

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
    if (install.state === 'succeeded') return completeIfCaughtUp(this.store, deployment);
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
    const env = await promotionTarget(this.store, this.environments, bundle);
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
    const version = body.to ?? (await previousLanded(this.store, body.app, env.name));
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
      env = await promotionTarget(this.store, this.environments, bundle);
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
   * Cancels a deployment (`ferry deployments cancel`); see `cancelDeployment`.
   * Who may deploy there may cancel it.
   */
  async cancel(caller: Caller, id: string): Promise<DeploymentRecord> {
    const deployment = await this.stored(id);
    authorizeDeploy(caller, this.environment(deployment.env));
    await cancelDeployment(this.store, deployment, caller.name);
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
    return deploymentRecord(this.store, this.snapshots, id);
  }

  /** Deployments, newest first, with their installs. */
  async list(query: DeploymentListQuery): Promise<DeploymentRecord[]> {
    return listDeployments(this.store, query);
  }

  /** Every install's step output, host by host; `host` keeps one host's. */
  async logs(id: string, host?: string): Promise<DeploymentLogs> {
    return deploymentLogs(this.store, id, host);
  }

  /** Records a deployment (see `createDeployment`) and returns it as it now stands. */
  private async create(
    actor: string | Actor,
    bundle: BundleDetail,
    env: EnvironmentConfig,
    kind: DeploymentKind,
    options: CreateDeploymentOptions,
  ): Promise<DeploymentRecord> {
    const creation = {
      store: this.store,
      snapshots: this.snapshots,
      developerKeys: this.developerKeys,
    };
    return this.get(await createDeployment(creation, actor, bundle, env, kind, options));
  }

  private async checkVerdict(bundle: BundleDetail, env: EnvironmentConfig): Promise<void> {
    const has = await this.verdicts.verdictOf(bundle.app, bundle.version);
    requireVerdict(has, env.requires, env.name, `${bundle.app}@${bundle.version}`);
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

  private stored(id: string): Promise<StoredDeployment> {
    return storedDeployment(this.store, id);
  }
}
