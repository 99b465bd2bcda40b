import type { BundleDetail } from '../../protocol/api.js';
import type { DeploymentKind } from '../../protocol/deployment-api.js';
import { FerryError } from '../../protocol/errors.js';
import { hasLanded, isFinalInstall, isWithdrawn } from '../../protocol/lifecycle.js';
import type { Store, StoredDeployment, StoredInstall } from '../../store/store.js';

/** The name of the step in which an agent runs a release's migrations. */
export const MIGRATE_STEP = 'migrate';

/**
 * True when a deployment runs its bundle's `migrate` commands: a rollout of a
 * bundle that has some, unless it is a rollback (going back never migrates).
 */
export function runsMigrations(
  deployment: Pick<StoredDeployment, 'kind' | 'phase'>,
  bundle: Pick<BundleDetail, 'manifest'>,
): boolean {
  const migrate = bundle.manifest.migrate;
  return (
    deployment.kind !== 'rollback' &&
    deployment.phase === 'rollout' &&
    Array.isArray(migrate) &&
    migrate.length > 0
  );
}

/**
 * The install of a deployment's wave that runs the migrations. Once a host has
 * begun its job (the server told it to go ahead, or it reported a step), it
 * keeps them, whatever became of it: a host given up on while it ran goes on
 * running its job, migrations included, and they must not run a second time
 * elsewhere. Before that, it is the first host in batch then name order that
 * was not given up on (a host away before it began declines the job when it
 * asks, and hands the migrations on).
 */
export function migratingInstall(wave: StoredInstall[]): StoredInstall | undefined {
  const ordered = [...wave].sort(
    (a, b) => (a.batch ?? 0) - (b.batch ?? 0) || (a.host < b.host ? -1 : a.host > b.host ? 1 : 0),
  );
  return ordered.find(beganJob) ?? ordered.find((i) => !isWithdrawn(i.state));
}

/** What a rollout that migrates does next, by where its migrations stand. */
export type MigrationGate =
  /** The migrator has not ended: send it (alone, asked to migrate) if it is not yet, or wait for it. */
  | { next: 'migrate'; migrator: StoredInstall }
  /** The migrator ended after its migrations succeeded: the batches go on. */
  | { next: 'proceed'; migrator: StoredInstall }
  /**
   * The migrator ended without them, or no host was there to run them: no host
   * may take the release (it would run on data never migrated); `reason` says why.
   */
  | { next: 'fail'; migrator: StoredInstall | undefined; reason: string };

/**
 * Where the migrations of a deployment's wave stand (`ref` names its bundle,
 * `cart@12`, in the reason).
 */
export function migrationGate(wave: StoredInstall[], ref: string): MigrationGate {
  const migrator = migratingInstall(wave);
  if (!migrator) {
    return {
      next: 'fail',
      migrator,
      reason: `no host was there to run the migrations of ${ref}: every host stays on its release`,
    };
  }
  // Alone until it has ended, its health check too: with maxFailures 0, a
  // migrator that fails after migrating stops the rollout before anyone else goes.
  if (!isFinalInstall(migrator.state)) return { next: 'migrate', migrator };
  if (migrated(migrator)) return { next: 'proceed', migrator };
  const why = migrator.error ?? 'failed';
  if (isWithdrawn(migrator.state)) {
    return {
      next: 'fail',
      migrator,
      reason: beganMigrating(migrator)
        ? `${migrator.host} went away during the migrations of ${ref} (${why}): ` +
          'they are not handed to another host, as they may have run in part; ' +
          'every other host stays on its release'
        : `${migrator.host} went away while installing ${ref}, before its migrations (${why}): ` +
          'they are not handed to another host, as it may still run them; ' +
          'every other host stays on its release',
    };
  }
  return {
    next: 'fail',
    migrator,
    reason: beganMigrating(migrator)
      ? `the migrations of ${ref} failed on ${migrator.host}: ${why}; every host stays on its release`
      : `${migrator.host} failed before running the migrations of ${ref}: ${why}; every host stays on its release`,
  };
}

/**
 * True when the install's host was told to go ahead (`startedAt`, recorded with
 * that answer, and kept when the install is given up on) or reported any step:
 * it has the job, and runs it to its end.
 */
function beganJob(install: Pick<StoredInstall, 'steps' | 'startedAt'>): boolean {
  return install.startedAt !== null || install.steps.length > 0;
}

/** True when the install's host reported a `migrate` step, ended or not. */
function beganMigrating(install: Pick<StoredInstall, 'steps'>): boolean {
  return install.steps.some((s) => s.step === MIGRATE_STEP);
}

/** True when this install ran its migrations and they succeeded. */
export function migrated(install: Pick<StoredInstall, 'steps'>): boolean {
  return install.steps.some((s) => s.step === MIGRATE_STEP && s.state === 'succeeded');
}

/** The host on which a deployment's migrations ran, if they did. */
export function migratedOn(installs: StoredInstall[]): string | null {
  return installs.find((i) => i.purpose === 'deploy' && migrated(i))?.host ?? null;
}

/** A deployment of a later version whose migrations ran in an environment, and where. */
export interface MigrationRan {
  version: number;
  deploymentId: string;
  host: string;
}

/**
 * The deployments of later versions whose migrations ran in the environment
 * since it last had `version`: what going back to it would run on, newest first.
 */
export async function migrationsSince(
  store: Pick<Store, 'deployments' | 'installs'>,
  app: string,
  env: string,
  version: number,
): Promise<MigrationRan[]> {
  const deployments = await store.deployments.list({ app, env });
  const landed = deployments.findIndex((d) => d.version === version && hasLanded(d.state));
  const over: MigrationRan[] = [];
  for (const d of landed === -1 ? deployments : deployments.slice(0, landed)) {
    if (d.version <= version || d.kind === 'rollback') continue;
    const host = migratedOn(await store.installs.list({ deploymentId: d.id }));
    if (host !== null) over.push({ version: d.version, deploymentId: d.id, host });
  }
  return over;
}

/**
 * The migrations a host on `current` would go back across, were it taken to
 * `desired`: those of versions above `desired` up to its own that ran in the
 * environment since `desired` was last there. None when it is not ahead.
 * Catch-up never takes a host back across them (nobody is there to say yes):
 * it is left ahead, and `ferry status` says why. With `asked`, what
 * `migrationsSince` answered is kept there, by app, environment and desired
 * release, so that many hosts ahead of one release ask it once.
 */
export async function migrationsBehind(
  store: Pick<Store, 'deployments' | 'installs'>,
  app: string,
  env: string,
  desired: number,
  current: number | null,
  asked?: Map<string, Promise<MigrationRan[]>>,
): Promise<MigrationRan[]> {
  if (current === null || current <= desired) return [];
  const key = `${app}\0${env}\0${desired}`;
  let since = asked?.get(key);
  if (!since) {
    since = migrationsSince(store, app, env, desired);
    asked?.set(key, since);
  }
  return (await since).filter((m) => m.version <= current);
}

/**
 * Refuses, with `E_ROLLBACK_OVER_MIGRATIONS`, to bring `version` back to an
 * environment where migrations of later versions ran since it was last there;
 * `goOn` tells how to go back all the same. Every way back asks this: a
 * rollback, a deploy or promote of an older bundle, an automatic promotion
 * (when it is made, and again when it starts after waiting its turn).
 */
export async function refuseOverMigrations(
  store: Pick<Store, 'deployments' | 'installs'>,
  app: string,
  env: string,
  version: number,
  goOn = 'pass --yes to go back anyway',
): Promise<void> {
  const over = await migrationsSince(store, app, env, version);
  if (over.length === 0) return;
  throw new FerryError(
    'E_ROLLBACK_OVER_MIGRATIONS',
    `Migrations ran in ${env} since ${app}@${version}: ${over
      .map((m) => `${app}@${m.version} (on ${m.host}, deployment ${m.deploymentId})`)
      .join(
        ', ',
      )}. Going back does not undo them: ${app}@${version} would run on the migrated data; ${goOn}`,
    { app, env, to: version, migrations: over },
  );
}

/**
 * How a person goes back by hand when an automatic deployment (nobody there to
 * say yes) would go back across migrations: the end of its refusal.
 */
export function goOnByHand(
  deployment: Pick<StoredDeployment, 'kind' | 'app' | 'version' | 'env'>,
): string {
  const ref = `${deployment.app}@${deployment.version}`;
  return deployment.kind === ('auto-promote' satisfies DeploymentKind)
    ? `it is not promoted by itself: ferry promote ${ref} --yes goes back anyway`
    : `it is not deployed by itself: ferry deploy ${ref} --env ${deployment.env} --yes goes back anyway`;
}
