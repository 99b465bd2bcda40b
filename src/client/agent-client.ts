import { AGENT_ROUTES } from '../protocol/agent-routes.js';
import { type FerryClientOptions, RouteClient } from './route-client.js';

/**
 * An agent's client of the API: only the routes an agent calls
 * (`AGENT_ROUTES`: enrolment, its credential, the signing key, the
 * still-wanted question, bundle downloads), so that an agent never loads the
 * schemas of the whole API. Calls, answers and errors are `FerryClient`'s.
 *
 * @example
 *   const { wanted } = await new AgentClient(server, () => identity.token, options).call('installWanted', { params: { id } });
 */
export class AgentClient extends RouteClient<typeof AGENT_ROUTES> {
  constructor(
    baseUrl: string,
    /** The host's credential, or how to read it each time (it rotates). */
    token: string | undefined | (() => string | undefined),
    options: FerryClientOptions = {},
  ) {
    super(AGENT_ROUTES, baseUrl, token, options);
  }
}
