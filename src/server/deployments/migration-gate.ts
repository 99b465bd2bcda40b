import type { BundleDetail } from '../../protocol/api.js';
import type { StoredDeployment, StoredInstall } from '../../store/store.js';

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
 * The install of a deployment's first batch that runs the migrations: the
 * first by host name that was not skipped or cancelled (a host that went away
 * before it ran hands the migrations to the next one).
 */
export function migratingInstall(firstBatch: StoredInstall[]): StoredInstall | undefined {
  return [...firstBatch]
    .filter((i) => i.state !== 'skipped' && i.state !== 'cancelled')
    .sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0))[0];
}

/** True when this install ran its migrations and they succeeded. */
export function migrated(install: Pick<StoredInstall, 'steps'>): boolean {
  return install.steps.some((s) => s.step === MIGRATE_STEP && s.state === 'succeeded');
}

/** The host on which a deployment's migrations ran, if they did. */
export function migratedOn(installs: StoredInstall[]): string | null {
  return installs.find((i) => i.purpose === 'deploy' && migrated(i))?.host ?? null;
}
