import type { BundleDetail } from '../../protocol/api.js';
import type { DeploymentKind } from '../../protocol/deployment-api.js';
import { FerryError } from '../../protocol/errors.js';
import { QUEUED_DEPLOYMENT_STATES } from '../../protocol/lifecycle.js';
import type { DeployLock, Store } from '../../store/store.js';
import type { DeveloperKeys } from '../developer-keys.js';
import type { EnvironmentConfig } from '../environment-config.js';
import type { ResolvedVariables } from '../variable-service.js';
import type { ConfigSnapshots } from './config-snapshots.js';
import { assertInstallJobsFit } from './install-dispatcher.js';
import { refuseOverMigrations } from './migration-gate.js';
import { newId, planInstalls, roleOf, targetHosts } from './rollout-plan.js';

/** Who a deployment is recorded as started by, and who set it off when that was a policy. */
export interface Actor {
  createdBy: string;
  triggeredBy: string | null;
}

/**
 * An automatic deployment is the environment's own doing, by its policy; the
 * person whose push or verdict set it off is kept beside it. A deployer token
 * bound to `dev` that pushes does not deploy to `qa` itself: `qa`'s
 * `autoDeploy` does, as configured by the operator.
 */
export function policyActor(env: string, policy: 'autoDeploy' | 'autoPromote', by: string): Actor {
  return { createdBy: `policy:${env}/${policy}`, triggeredBy: by };
}

/** What a deployment is checked with and recorded through before its rollout. */
export interface DeploymentCreation {
  store: Pick<Store, 'deployments' | 'hosts' | 'installs'>;
  snapshots: Pick<ConfigSnapshots, 'forDeployment'>;
  developerKeys: Pick<DeveloperKeys, 'checkEntry'>;
}

/** How `createDeployment` records a deployment: refused or queued, its variables, its way back. */
export interface CreateDeploymentOptions {
  /** An automatic one: queued behind the lock's holder, recorded as failed when refused. */
  queue: boolean;
  refresh?: boolean;
  /** Refused (recorded as failed when queued) when going back across migrations; says how to go on. */
  refuseOverMigrations?: string;
  /** Whoever started it said yes to going back across migrations (`--yes`). */
  confirmedMigrations?: boolean;
}

/**
 * Records a deployment of `bundle` to `env`, once every check that must pass
 * before a host is touched has: the signatures the environment requires, going
 * back across migrations only when confirmed, every variable for every target
 * host (frozen into the installs' snapshots), and that every host's job fits in
 * a transport message. It takes the app's lock in `env`; when another
 * deployment holds it, it is refused with `E_DEPLOY_LOCKED`, or, with `queue`,
 * waits its turn (`pending`). A queued (automatic) deployment whose check
 * fails is recorded as failed, and its id returned all the same. Returns the
 * new deployment's id; the rollout is the `RolloutDriver`'s.
 *
 * @example
 *   const id = await createDeployment(creation, caller.name, bundle, env, 'deploy', { queue: false });
 */
export async function createDeployment(
  { store, snapshots, developerKeys }: DeploymentCreation,
  actor: string | Actor,
  bundle: BundleDetail,
  env: EnvironmentConfig,
  kind: DeploymentKind,
  options: CreateDeploymentOptions,
): Promise<string> {
  const id = newId('dep');
  const desired = (
    await store.deployments.listDesiredReleases({ env: env.name, app: bundle.app })
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
  const hosts = targetHosts(await store.hosts.list(), env.name, roleOf(bundle));
  let frozen: Map<string, ResolvedVariables>;
  try {
    // The signatures the environment requires, whoever asks (a person, autoDeploy,
    // autoPromote, a rollback): checked over the bundle's record as it is now.
    developerKeys.checkEntry(bundle, env);
    // Every ${NAME} must be set for every target host, and every host's job must
    // fit in a transport message, before anything is recorded or sent. What is
    // resolved here is frozen: the installs are sent with it.
    if (options.refuseOverMigrations !== undefined)
      await refuseOverMigrations(
        store,
        bundle.app,
        env.name,
        bundle.version,
        options.refuseOverMigrations,
      );
    frozen = await snapshots.forDeployment(bundle, env.name, hosts, {
      refresh: options.refresh === true,
    });
    assertInstallJobsFit(bundle, hosts, frozen);
  } catch (err) {
    if (!(err instanceof FerryError) || !options.queue) throw err;
    // Nobody waits on an automatic deployment: record why it did not happen.
    await store.deployments.create({ ...deployment, state: 'failed', error: err.message }, [], {
      lock: false,
    });
    return id;
  }
  const installs = planInstalls(deployment, env.strategy, hosts);
  // The snapshots are recorded with the installs, in one transaction, so that
  // no replica sends an install without its own; a deployment the lock
  // refuses records neither.
  const created = await store.deployments.create({ ...deployment, state: 'running' }, installs, {
    lock: true,
    snapshots: installs.map((i) => ({ installId: i.id, snapshot: frozen.get(i.hostId)! })),
  });
  if (!created.created) {
    if (!options.queue) throw await lockedError(store, created.holder);
    // Queued behind the holder, replacing whatever older one waited there.
    for (const waiting of await store.deployments.list({
      app: bundle.app,
      env: env.name,
      states: [...QUEUED_DEPLOYMENT_STATES],
    })) {
      await store.deployments.update(
        waiting.id,
        {
          state: 'cancelled',
          finishedAt: new Date().toISOString(),
          error: `superseded by ${bundle.app}@${bundle.version} before it started`,
        },
        { from: QUEUED_DEPLOYMENT_STATES },
      );
    }
    await store.deployments.create({ ...deployment, state: 'pending' }, [], { lock: false });
  }
  // The driver of this replica hears the deployment.created event (onLocal).
  return id;
}

/** Why a deployment is refused while another holds the app's lock there, and how to go on. */
async function lockedError(
  store: Pick<Store, 'deployments'>,
  holder: DeployLock,
): Promise<FerryError> {
  const deployment = await store.deployments.get(holder.deploymentId);
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
