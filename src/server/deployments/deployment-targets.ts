import type { BundleDetail } from '../../protocol/api.js';
import { FerryError } from '../../protocol/errors.js';
import { LANDED_DEPLOYMENT_STATES } from '../../protocol/lifecycle.js';
import type { Store } from '../../store/store.js';
import type { EnvironmentConfig } from '../environment-config.js';

/**
 * The environment after the last one, in lifecycle order, where the bundle
 * landed — or that last one itself when it has since gone back to an older
 * release (rolled back): promoting the bundle again deploys it there again.
 */
export async function promotionTarget(
  store: Pick<Store, 'deployments'>,
  environments: readonly EnvironmentConfig[],
  bundle: BundleDetail,
): Promise<EnvironmentConfig> {
  const landed = await store.deployments.list({
    app: bundle.app,
    states: [...LANDED_DEPLOYMENT_STATES],
  });
  const envs = new Set(landed.filter((d) => d.version === bundle.version).map((d) => d.env));
  const last = environments.reduce((found, env, index) => (envs.has(env.name) ? index : found), -1);
  const ref = `${bundle.app}@${bundle.version}`;
  if (last === -1) {
    throw new FerryError(
      'E_NOTHING_TO_PROMOTE',
      `${ref} has not succeeded in any environment yet; deploy it first (ferry deploy ${ref} --env ${environments[0]!.name})`,
      { bundle: ref },
    );
  }
  const lastEnv = environments[last]!;
  const [desired] = await store.deployments.listDesiredReleases({
    env: lastEnv.name,
    app: bundle.app,
  });
  if (desired && desired.version < bundle.version) return lastEnv;
  const next = environments[last + 1];
  if (!next) {
    throw new FerryError(
      'E_NOTHING_TO_PROMOTE',
      `${ref} is already in ${environments[last]!.name}, the last environment`,
      { bundle: ref, env: environments[last]!.name },
    );
  }
  return next;
}

/** The newest version that landed in an environment before the one it should run now. */
export async function previousLanded(
  store: Pick<Store, 'deployments'>,
  app: string,
  env: string,
): Promise<number> {
  const [desired] = await store.deployments.listDesiredReleases({ env, app });
  const landed = await store.deployments.list({
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
