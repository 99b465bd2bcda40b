import type { AgentService } from '../agent-service.js';
import type { HostFactsService } from '../host-facts-service.js';
import type { ServerSigningKey } from '../signing-key.js';
import type { ServerWire } from '../tls/server-tls.js';
import { routePlugin } from './route-plugin.js';

/** Hosts and installs: enrolment, the host list and facts, and single installs with their logs. */
export function agentRoutes(
  agents: AgentService,
  facts: HostFactsService,
  signingKey: Pick<ServerSigningKey, 'publicKey'>,
  wire: ServerWire,
) {
  return routePlugin('hosts', {
    enroll: async ({ token, body, request }) => {
      const enrolled = await agents.enroll(token, body);
      request.log.info(
        { host: enrolled.name, hostId: enrolled.hostId, env: body.env },
        'host enrolled',
      );
      // The key the agent checks every bundle with, from its first answer on.
      return { ...enrolled, signingKey: signingKey.publicKey };
    },

    rotateCredential: async ({ token, request }) => {
      const rotated = await agents.rotateCredential(token);
      request.log.info(
        { hostId: token.hostId, expiresAt: rotated.expiresAt },
        'host credential rotated',
      );
      return rotated;
    },

    confirmCredential: async ({ token }) => agents.confirmCredential(token),

    hosts: async ({ query: { env } }) => ({
      hosts: await agents.listHosts(env),
      insecureHttp: wire.insecureHttp,
      caExpiresAt: wire.caExpiresAt() ?? undefined,
    }),

    hostFacts: async ({ params: { name }, query: { history } }) => facts.show(name, history),

    removeHost: async ({ token, params: { name }, request }) => {
      const removed = await agents.removeHost(name, token.name);
      request.log.info({ host: name, hostId: removed.id, by: token.name }, 'host removed');
    },

    createInstall: async ({ token, body }) => agents.install(token.name, body),

    install: async ({ params: { id } }) => agents.getInstall(id),

    installLogs: async ({ params: { id } }) => agents.logs(id),
  });
}
