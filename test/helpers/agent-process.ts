import type { ChildProcess } from 'node:child_process';
import { ApiClient } from '../../src/cli/api-client.js';
import { harnessTrust } from '../../src/dev/harness-trust.js';
import { LocalAgent, type LocalAgentOptions } from '../../src/dev/local-agent.js';

export { enrolledHostId } from '../../src/dev/local-agent.js';

/** A `ferry agent` child process and what it printed. */
export interface AgentProcess {
  child: ChildProcess;
  /** The id the server gave its host. */
  hostId: string;
  output: () => string;
  stop(): Promise<void>;
}

/** What a test agent is started with: the harness's options, and the server whose admin sees it. */
export type TestAgentOptions = Omit<LocalAgentOptions, 'admin' | 'server'> & {
  /** The server (any replica) and its admin token, through which readiness is seen. */
  admin: { url: string; adminToken: string };
  /** The URL the agent is told of, when not the admin's server (a proxy, a balancer, another replica). */
  server?: string;
};

/**
 * Starts `ferry agent` through the local-cluster harness and waits until the
 * server lists its host connected; fails with its output if it exits first.
 */
export async function startAgent(options: TestAgentOptions): Promise<AgentProcess> {
  const { admin, server, ...rest } = options;
  // `ferry tokens create --role agent` prints a join string: the agent takes it as FERRY_JOIN.
  if (rest.token?.startsWith('ferry-join-v1.')) {
    rest.join = rest.token;
    delete rest.token;
  }
  const agent = await LocalAgent.start({
    ...rest,
    server: server ?? admin.url,
    admin: new ApiClient(admin.url, admin.adminToken, harnessTrust()),
  });
  return {
    child: agent.child,
    hostId: agent.hostId,
    output: () => agent.output(),
    async stop() {
      await agent.stop();
    },
  };
}
