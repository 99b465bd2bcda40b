import type { Role } from '../../protocol/api.js';
import { type RouteName, ROUTES } from '../../protocol/routes.js';

/** Whether a person may take an action, and when not, why, in words shown beside it. */
export type Permission =
  { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

/** Who the page is signed in as: what the rules depend on. */
export interface Person {
  role: Role;
  /** The one environment the person's token is bound to, or null for all. */
  env: string | null;
}

/** What the rules need to know of an environment. */
export interface EnvironmentRule {
  name: string;
  protected: boolean;
}

const ALLOWED: Permission = { allowed: true };

/**
 * Whether a person's role may call a route at all, from the route's declared
 * roles (src/protocol/routes.ts) — the same list the server checks.
 *
 * @example
 *   mayCall('promote', { role: 'qa', env: null })
 *   // { allowed: false, reason: 'needs admin or deployer — you are qa' }
 */
export function mayCall(route: RouteName, person: Person): Permission {
  const roles = ROUTES[route].roles;
  if (roles === 'public' || (roles as readonly Role[]).includes(person.role)) return ALLOWED;
  return { allowed: false, reason: `needs ${orList(roles)} — you are ${person.role}` };
}

/**
 * Whether a person may deploy, promote, roll back or cancel in an
 * environment: the route's roles, then the server's rule for environments —
 * a protected one (prod) takes only an admin, and a token bound to one
 * environment acts only there.
 *
 * @example
 *   mayChangeEnvironment('rollback', { role: 'deployer', env: null }, { name: 'prod', protected: true })
 *   // { allowed: false, reason: 'prod is protected: admin only' }
 */
export function mayChangeEnvironment(
  route: RouteName,
  person: Person,
  env: EnvironmentRule,
): Permission {
  const byRole = mayCall(route, person);
  if (!byRole.allowed) return byRole;
  if (person.role === 'admin') return ALLOWED;
  if (env.protected) return { allowed: false, reason: `${env.name} is protected: admin only` };
  if (person.env !== null && person.env !== env.name) {
    return { allowed: false, reason: `your token is for ${person.env} only` };
  }
  return ALLOWED;
}

function orList(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/**
 * Whether a person may promote a bundle to an environment: as
 * `mayChangeEnvironment`, then the environment's verdict requirement (prod
 * takes only bundles marked passed).
 *
 * @example
 *   mayPromote({ role: 'admin', env: null }, { name: 'prod', protected: true, requires: 'passed' }, 'failed')
 *   // { allowed: false, reason: 'prod takes only bundles marked passed — this one is failed' }
 */
export function mayPromote(
  person: Person,
  env: EnvironmentRule & { requires: string | null },
  verdict: string,
): Permission {
  const allowed = mayChangeEnvironment('promote', person, env);
  if (!allowed.allowed) return allowed;
  if (env.requires !== null && verdict !== env.requires) {
    return {
      allowed: false,
      reason: `${env.name} takes only bundles marked ${env.requires} — this one is ${verdict}`,
    };
  }
  return ALLOWED;
}

/**
 * Whether marking a bundle failed may also roll it back (`ferry mark … failed
 * --rollback`): the server refuses the whole mark unless the person may roll
 * back in every environment where the bundle is the desired release, so the
 * choice is offered only then.
 *
 * @example
 *   mayRollBackWhenFailed({ role: 'qa', env: null }, 'cart@12', [{ name: 'qa', protected: false }])
 *   // { allowed: false, reason: 'needs admin or deployer — you are qa' }
 */
export function mayRollBackWhenFailed(
  person: Person,
  bundle: string,
  desiredIn: readonly EnvironmentRule[],
): Permission {
  if (desiredIn.length === 0) {
    return { allowed: false, reason: `${bundle} is not the desired release anywhere` };
  }
  for (const env of desiredIn) {
    const allowed = mayChangeEnvironment('rollback', person, env);
    if (!allowed.allowed) return allowed;
  }
  return ALLOWED;
}
