import type { VariableService } from '../variable-service.js';
import { type RouteContext, routePlugin } from './route-plugin.js';
import type { Route } from '../../protocol/routes.js';

/** What setting a variable needs of its request, by PUT or POST alike. */
type SetContext = Pick<RouteContext<Route<'setVariable'>>, 'token' | 'body' | 'request' | 'reply'>;

/**
 * Variables: set (PUT or POST), list, unset. Values are never logged, and a
 * secret's value never leaves the server in an answer.
 */
export function variableRoutes(variables: VariableService) {
  const set = async ({ token, body, request, reply }: SetContext) => {
    const result = await variables.set(token, body);
    const { name, scope, target, secret } = result.variable;
    request.log.info({ name, scope, target, secret, by: token.name }, 'variable set');
    void reply.status(result.created ? 201 : 200);
    return result;
  };
  return routePlugin('variables', {
    setVariable: set,
    setVariableByPost: (context) => set(context),

    variables: async ({ query }) => ({ variables: await variables.list(query) }),

    unsetVariable: async ({ token, params: { name }, query, request }) => {
      await variables.unset(token, name, query);
      request.log.info({ name, ...query, by: token.name }, 'variable unset');
    },
  });
}
