import type { Role } from '../../protocol/api.js';
import { FerryError } from '../../protocol/errors.js';
import { type EnvironmentConfig, isProtected } from '../environment-config.js';

/** Who asks: a token's name, role and environment binding. */
export interface Caller {
  name: string;
  role: Role;
  env: string | null;
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
