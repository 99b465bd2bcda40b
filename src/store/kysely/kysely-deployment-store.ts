import type { Kysely, Selectable } from 'kysely';
import {
  type DeploymentKind,
  type DeploymentState,
  type StrategyRecord,
} from '../../protocol/deployment-api.js';
import {
  ACTIVE_DEPLOYMENT_STATES,
  FINAL_DEPLOYMENT_STATES,
  isRollingOut,
} from '../../protocol/lifecycle.js';
import type { BundleKey } from '../../protocol/note-api.js';
import type { Database, DeploymentsTable } from '../schema.js';
import type {
  DeployLock,
  DeploymentPatch,
  DeploymentUpdateOptions,
  DesiredRelease,
  NewDeployment,
  DeploymentStore,
  StoredDeployment,
} from '../deployment-store.js';
import type { InstallSnapshot, NewInstall } from '../install-store.js';
import type { KyselyInstallStore } from './kysely-install-store.js';

/**
 * `DeploymentStore` over Kysely, written once for every dialect: deployments,
 * their locks and leases, and the desired release of each app per
 * environment. A deployment's installs and snapshots are recorded by
 * `KyselyInstallStore`, in the deployment's own transaction.
 */
export class KyselyDeploymentStore implements DeploymentStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly installs: KyselyInstallStore,
  ) {}

  async create(
    deployment: NewDeployment,
    installs: NewInstall[],
    options: { lock: boolean; snapshots?: readonly InstallSnapshot[] },
  ): Promise<{ created: true } | { created: false; holder: DeployLock }> {
    return this.db.transaction().execute(async (trx) => {
      const now = new Date().toISOString();
      if (options.lock) {
        await dropStaleLock(trx, deployment.app, deployment.env);
        // The primary key makes this atomic on every dialect: of two deployments
        // racing for one app and environment, one row wins.
        await trx
          .insertInto('deploy_locks')
          .values({
            app: deployment.app,
            env: deployment.env,
            deployment_id: deployment.id,
            since: now,
          })
          .onConflict((oc) => oc.columns(['app', 'env']).doNothing())
          .execute();
        const holder = await lockOf(trx, deployment.app, deployment.env);
        if (holder && holder.deploymentId !== deployment.id) return { created: false, holder };
      }
      await trx
        .insertInto('deployments')
        .values({
          id: deployment.id,
          app: deployment.app,
          version: deployment.version,
          env: deployment.env,
          kind: deployment.kind,
          state: deployment.state,
          strategy_json: JSON.stringify(deployment.strategy),
          from_version: deployment.fromVersion,
          created_by: deployment.createdBy,
          triggered_by: deployment.triggeredBy ?? null,
          refresh_vars: deployment.refreshVars === true ? 1 : 0,
          migrations_confirmed: deployment.migrationsConfirmed === true ? 1 : 0,
          created_at: now,
          started_at: isRollingOut(deployment.state) ? now : null,
          finished_at: FINAL_DEPLOYMENT_STATES.includes(deployment.state) ? now : null,
          error: deployment.error ?? null,
          lease_owner: null,
          lease_expires_at: null,
        })
        .execute();
      await this.recordInstalls(trx, installs, options.snapshots ?? []);
      return { created: true };
    });
  }

  async get(id: string): Promise<StoredDeployment | undefined> {
    const row = await this.db
      .selectFrom('deployments')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toDeployment(row);
  }

  async list(
    query: { app?: string; env?: string; states?: DeploymentState[]; limit?: number } = {},
  ): Promise<StoredDeployment[]> {
    let select = this.db
      .selectFrom('deployments')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc');
    if (query.app !== undefined) select = select.where('app', '=', query.app);
    if (query.env !== undefined) select = select.where('env', '=', query.env);
    if (query.states !== undefined) select = select.where('state', 'in', query.states);
    select = select.limit(query.limit ?? 1000);
    return (await select.execute()).map(toDeployment);
  }

  async listForBundles(bundles: readonly BundleKey[]): Promise<StoredDeployment[]> {
    if (bundles.length === 0) return [];
    const rows = await this.db
      .selectFrom('deployments')
      .selectAll()
      .where((eb) =>
        eb.or(
          bundles.flatMap((b) => [
            eb.and([eb('app', '=', b.app), eb('version', '=', b.version)]),
            eb.and([
              eb('app', '=', b.app),
              eb('kind', '=', 'rollback'),
              eb('from_version', '=', b.version),
            ]),
          ]),
        ),
      )
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toDeployment);
  }

  async update(
    id: string,
    patch: DeploymentPatch,
    options: DeploymentUpdateOptions = {},
  ): Promise<boolean> {
    const { from, desired } = options;
    if (from?.length === 0) return false;
    return this.db.transaction().execute(async (trx) => {
      let update = trx
        .updateTable('deployments')
        .set({
          ...(patch.state === undefined ? {} : { state: patch.state }),
          ...(patch.phase === undefined ? {} : { phase: patch.phase }),
          ...(patch.startedAt === undefined ? {} : { started_at: patch.startedAt }),
          ...(patch.finishedAt === undefined ? {} : { finished_at: patch.finishedAt }),
          ...(patch.error === undefined ? {} : { error: patch.error }),
          ...(patch.bake === undefined
            ? {}
            : {
                bake_batch: patch.bake?.batch ?? null,
                bake_until: patch.bake?.until ?? null,
                bake_restarts_json: patch.bake ? JSON.stringify(patch.bake.restarts) : null,
              }),
        })
        .where('id', '=', id);
      if (from) update = update.where('state', 'in', [...from]);
      if (options.phase) update = update.where('phase', '=', options.phase);
      const changed = Number((await update.executeTakeFirst()).numUpdatedRows) > 0;
      // Only the deployment that ended as it should sets the desired release: one
      // cancelled meanwhile leaves the environment's as it was.
      if (changed && desired) await upsertDesired(trx, desired);
      // Before the installs recorded with the change: a rollback cancels the
      // rollout's unsent installs, not its own reverts.
      if (changed && options.cancelUnstarted)
        await this.installs
          .withDb(trx)
          .cancelUnstarted(id, options.cancelUnstarted.error, new Date().toISOString());
      if (changed) await this.recordInstalls(trx, options.installs ?? [], options.snapshots ?? []);
      return changed;
    });
  }

  /** Installs with their snapshots, the snapshots first: no replica sees an install without its own. */
  private async recordInstalls(
    trx: Kysely<Database>,
    installs: NewInstall[],
    snapshots: readonly InstallSnapshot[],
  ): Promise<void> {
    const inTransaction = this.installs.withDb(trx);
    await inTransaction.saveSnapshots(snapshots);
    if (installs.length > 0) await inTransaction.createMany(installs);
  }

  async takeLock(app: string, env: string, deploymentId: string, at: string): Promise<DeployLock> {
    await dropStaleLock(this.db, app, env);
    await this.db
      .insertInto('deploy_locks')
      .values({ app, env, deployment_id: deploymentId, since: at })
      .onConflict((oc) => oc.columns(['app', 'env']).doNothing())
      .execute();
    const holder = await lockOf(this.db, app, env);
    if (!holder) throw new Error(`the lock of ${app} in ${env} vanished while being taken`);
    return holder;
  }

  getLock(app: string, env: string): Promise<DeployLock | undefined> {
    return lockOf(this.db, app, env);
  }

  async releaseLock(app: string, env: string, deploymentId: string): Promise<void> {
    await this.db
      .deleteFrom('deploy_locks')
      .where('app', '=', app)
      .where('env', '=', env)
      .where('deployment_id', '=', deploymentId)
      .execute();
  }

  async claimLease(id: string, owner: string, now: string, expiresAt: string): Promise<boolean> {
    // One conditional update: of two replicas claiming at once, only one matches.
    const result = await this.db
      .updateTable('deployments')
      .set({ lease_owner: owner, lease_expires_at: expiresAt })
      .where('id', '=', id)
      .where('state', 'in', [...ACTIVE_DEPLOYMENT_STATES])
      .where((eb) =>
        eb.or([
          eb('lease_owner', 'is', null),
          eb('lease_owner', '=', owner),
          eb('lease_expires_at', '<', now),
        ]),
      )
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async releaseLease(id: string, owner: string): Promise<void> {
    await this.db
      .updateTable('deployments')
      .set({ lease_owner: null, lease_expires_at: null })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .execute();
  }

  async setDesiredRelease(desired: DesiredRelease): Promise<void> {
    await upsertDesired(this.db, desired);
  }

  async listDesiredReleases(query: { env?: string; app?: string } = {}): Promise<DesiredRelease[]> {
    let select = this.db.selectFrom('desired_releases').selectAll().orderBy('app').orderBy('env');
    if (query.env !== undefined) select = select.where('env', '=', query.env);
    if (query.app !== undefined) select = select.where('app', '=', query.app);
    return (await select.execute()).map((row) => ({
      env: row.env,
      app: row.app,
      version: Number(row.version),
      deploymentId: row.deployment_id,
      updatedAt: row.updated_at,
    }));
  }
}

async function lockOf(
  db: Kysely<Database>,
  app: string,
  env: string,
): Promise<DeployLock | undefined> {
  // Only a deployment still under way holds the lock: a row left by one that
  // ended (its server died between the two writes) is not a lock.
  const row = await db
    .selectFrom('deploy_locks')
    .innerJoin('deployments', 'deployments.id', 'deploy_locks.deployment_id')
    .select([
      'deploy_locks.app',
      'deploy_locks.env',
      'deploy_locks.deployment_id',
      'deploy_locks.since',
    ])
    .where('deploy_locks.app', '=', app)
    .where('deploy_locks.env', '=', env)
    .where('deployments.state', 'in', [...ACTIVE_DEPLOYMENT_STATES])
    .executeTakeFirst();
  return row && { app: row.app, env: row.env, deploymentId: row.deployment_id, since: row.since };
}

/**
 * Removes the lock of an app and environment when its deployment has ended, so
 * that a server dying between ending a deployment and releasing its lock never
 * leaves a lock to clear by hand. A lock being taken in another transaction is
 * not visible here, and its deployment row commits with it.
 */
async function dropStaleLock(db: Kysely<Database>, app: string, env: string): Promise<void> {
  await db
    .deleteFrom('deploy_locks')
    .where('app', '=', app)
    .where('env', '=', env)
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('deployments')
            .select('deployments.id')
            .whereRef('deployments.id', '=', 'deploy_locks.deployment_id')
            .where('deployments.state', 'in', [...ACTIVE_DEPLOYMENT_STATES]),
        ),
      ),
    )
    .execute();
}

function toDeployment(row: Selectable<DeploymentsTable>): StoredDeployment {
  return {
    id: row.id,
    app: row.app,
    version: Number(row.version),
    env: row.env,
    kind: row.kind as DeploymentKind,
    state: row.state as DeploymentState,
    phase: row.phase === 'reverting' ? 'reverting' : 'rollout',
    strategy: JSON.parse(row.strategy_json) as StrategyRecord,
    fromVersion: row.from_version === null ? null : Number(row.from_version),
    createdBy: row.created_by,
    triggeredBy: row.triggered_by,
    refreshVars: Number(row.refresh_vars) === 1,
    migrationsConfirmed: Number(row.migrations_confirmed) === 1,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    error: row.error,
    leaseOwner: row.lease_owner,
    leaseExpiresAt: row.lease_expires_at,
    bake:
      row.bake_batch === null || row.bake_until === null
        ? null
        : {
            batch: Number(row.bake_batch),
            until: row.bake_until,
            restarts: JSON.parse(row.bake_restarts_json ?? '{}') as Record<string, number>,
          },
  };
}

async function upsertDesired(db: Kysely<Database>, desired: DesiredRelease): Promise<void> {
  const values = {
    env: desired.env,
    app: desired.app,
    version: desired.version,
    deployment_id: desired.deploymentId,
    updated_at: desired.updatedAt,
  };
  await db
    .insertInto('desired_releases')
    .values(values)
    .onConflict((oc) =>
      oc.columns(['env', 'app']).doUpdateSet({
        version: values.version,
        deployment_id: values.deployment_id,
        updated_at: values.updated_at,
      }),
    )
    .execute();
}
