import { ROUTES } from '../protocol/routes.js';
import { type FerryClientOptions, RouteClient } from './route-client.js';

export {
  ApiError,
  type CallInput,
  type CallOptions,
  errorFromAnswer,
  errorFromResponse,
  type FerryClientOptions,
} from './route-client.js';

/**
 * The one client of the whole HTTP API, made from the route declarations
 * (`ROUTES`): each route is called by its name, with its params, query and
 * body typed, and its answer parsed with its schema (see `RouteClient`). In
 * the dashboard it has no token: the browser sends the session cookie, and
 * `options.headers` the CSRF token.
 *
 * @example
 *   const client = new FerryClient('http://127.0.0.1:7400', token);
 *   const { apps } = await client.call('apps');
 *   const bundle = await client.call('bundle', { params: { app: 'cart', version: 12 } });
 *   const page = new FerryClient(location.origin, undefined, { headers: () => ({ 'x-ferry-csrf': csrf }) });
 */
export class FerryClient extends RouteClient<typeof ROUTES> {
  constructor(
    baseUrl: string,
    /** The bearer token, or how to read it each time (an agent's host credential rotates). */
    token: string | undefined | (() => string | undefined),
    options: FerryClientOptions = {},
  ) {
    super(ROUTES, baseUrl, token, options);
  }
}
