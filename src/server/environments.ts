import { FerryError } from '../protocol/errors.js';
import type { Store } from '../store/store.js';

/** Throws `E_ENV_NOT_FOUND`, naming the environments there are, unless `env` is one. */
export async function requireEnvironment(store: Store, env: string): Promise<void> {
  const environments = await store.environments.list();
  if (!environments.includes(env)) {
    throw new FerryError(
      'E_ENV_NOT_FOUND',
      `No environment named ${env}; this server has ${environments.join(', ')}`,
      {
        env,
        environments,
      },
    );
  }
}
