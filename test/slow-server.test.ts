import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentRecord } from '../src/protocol/deployment-api.js';
import { type AgentProcess, startAgent } from './helpers/agent-process.js';
import { killServices, reservePort, waitFor } from './helpers/cluster.js';
import { runFerry, startServer, type ServerProcess } from './helpers/ferry-process.js';
import { SlowProxy } from './helpers/slow-proxy.js';
import { makeTree } from './helpers/source-tree.js';
import { webAppTree } from './helpers/web-app.js';
import { harnessFetch } from '../src/dev/harness-trust.js';
import { issueServerCertificate } from '../src/tls/certificate-authority.js';
import { QUESTIONS_HEADER } from '../src/transport/builtin/frames.js';

/**
 * Before running a job, an agent asks the server whether it is still wanted. A
 * server too busy to answer (here: a proxy that fails the first question and
 * sits on the second past the agent's patience) must not leave the job waiting
 * for the next reconnection: the agent asks again with backoff, and installs.
 * One that fails more often than the agent asks in a row (with 300 agents on a
 * busy machine, 260 of them timed out and sat `queued` until a reconnection)
 * has the job handled again on the same connection, until it ends.
 */

const WANTED = '/api/v1/agent/installs/';

let server: ServerProcess;
let proxy: SlowProxy;
let agent: AgentProcess | undefined;
let work: string;
let env: NodeJS.ProcessEnv;
/** How many questions about one install fail (the first two always do: a 503, then no answer in time). */
let failUntil = 0;

beforeAll(async () => {
  server = await startServer();
  // In front of the server over HTTPS, with a certificate from the server's own CA
  // (as an operator's proxy would have): the agent pins that CA.
  const tlsDir = path.join(server.dataDir, 'tls');
  const ca = {
    cert: await readFile(path.join(tlsDir, 'ca.pem'), 'utf8'),
    key: await readFile(path.join(tlsDir, 'ca-key.pem'), 'utf8'),
  };
  const made = await issueServerCertificate(ca, ['127.0.0.1'], 3_600_000);
  // The chain, CA after it, as the server's own.
  const proxyCert = { cert: made.cert + ca.cert, key: made.key };
  proxy = await SlowProxy.start(
    server.url,
    (request, count) => {
      if (!request.url?.startsWith(WANTED)) return 'forward';
      if (count === 1) return { status: 503 };
      if (count === 2) return { holdMs: 3000 };
      // The second test's: each question about an install fails up to its `failUntil`th.
      // Held well past the agent's 1 s patience, so that its answer never comes in time
      // (a deadline lost to the GC let one be taken: src/agent/deadline-signal.ts).
      if (count <= failUntil) return count % 2 === 0 ? { status: 503 } : { holdMs: 4000 };
      return 'forward';
    },
    proxyCert,
    // Without the header that says the server answers on the agent's connection
    // (as a server from before it): the agent asks over HTTPS, through the proxy.
    // The question on the connection fails and is asked again the same way
    // (transport-contract.test.ts); here its HTTPS path is made slow and failing.
    { dropUpgradeHeader: QUESTIONS_HEADER },
  );
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-slow-server-'));
  env = {
    FERRY_SERVER: server.url,
    FERRY_TOKEN: server.adminToken,
    FERRY_CONFIG_DIR: path.join(work, 'config'),
  };
});
afterAll(async () => {
  await agent?.stop();
  await killServices(path.join(work, 'qa-1'));
  await proxy?.close();
  await server?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('a server slow to say whether a job is wanted', () => {
  it('gets asked again with backoff, and the job runs without waiting for a reconnection', async () => {
    const made = await runFerry(['tokens', 'create', '--role', 'agent', '--env', 'qa'], { env });
    expect(made.code, made.stderr).toBe(0);
    // The agent talks to the server through the proxy, and gives up on an answer after 1 s.
    agent = await startAgent({
      admin: server,
      server: proxy.url,
      token: made.stdout.trim(),
      env: 'qa',
      roles: ['web'],
      root: path.join(work, 'qa-1'),
      name: 'qa-1',
      vars: { PORT: String(await reservePort()) },
      processEnv: { FERRY_CHECK_TIMEOUT: '1' },
    });
    // qa deploys every push.
    const pushed = await runFerry(['push', await makeTree(webAppTree('slow'))], { env });
    expect(pushed.code, pushed.stderr).toBe(0);
    const deployment = await waitFor(
      'the deployment to end',
      async () => {
        const answer = await harnessFetch(`${server.url}/api/v1/deployments?app=web&env=qa`, {
          headers: { authorization: `Bearer ${server.adminToken}` },
        });
        const [newest] = ((await answer.json()) as { deployments: DeploymentRecord[] }).deployments;
        return newest && !['pending', 'running'].includes(newest.state) ? newest : undefined;
      },
      40_000,
    );
    expect(deployment.state, agent.output()).toBe('succeeded');
    // Asked three times: a 503, a timeout, an answer.
    expect(proxy.seen.filter((url) => url.startsWith(WANTED)).length).toBe(3);
    expect(agent.output()).toContain('asking again');
  });

  it('handles the job again on the same connection when every try of a round failed, and it installs', async () => {
    // The agent asks five times a round (askWanted); the first seven questions
    // about this install fail (a 503 or no answer in time): the first round gives up.
    const asked = proxy.seen.filter((url) => url.startsWith(WANTED)).length;
    failUntil = 7;
    const pushed = await runFerry(['push', await makeTree(webAppTree('slower'))], { env });
    expect(pushed.code, pushed.stderr).toBe(0);
    const deployment = await waitFor(
      'the second deployment to end',
      async () => {
        const answer = await harnessFetch(`${server.url}/api/v1/deployments?app=web&env=qa`, {
          headers: { authorization: `Bearer ${server.adminToken}` },
        });
        const [newest] = ((await answer.json()) as { deployments: DeploymentRecord[] }).deployments;
        return newest?.version === 2 && !['pending', 'running'].includes(newest.state)
          ? newest
          : undefined;
      },
      60_000,
    );
    expect(deployment.state, agent!.output()).toBe('succeeded');
    // Eight questions, more than one round asks: the job was handled again on
    // the same connection, not left unacknowledged for a reconnection.
    expect(proxy.seen.filter((url) => url.startsWith(WANTED)).length - asked).toBe(8);
    expect(agent!.output()).toContain('delivered again after a pause');
  });
});
