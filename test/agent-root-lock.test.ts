import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type TestAgentOptions } from './helpers/agent-process.js';
import { Cluster } from './helpers/cluster.js';

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start();
  await cluster.addHost('dev-1', 'dev');
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

/** How dev-1's agent is started again, as a second start on the same root. */
function againArgs(): TestAgentOptions {
  const host = cluster.host('dev-1');
  return {
    admin: cluster.server,
    env: host.env,
    roles: host.roles,
    root: host.root,
    name: host.name,
  };
}

/** Starts an agent and answers how that went: 'connected' (stopped again at once) or its output on exit. */
async function tryStart(): Promise<string> {
  try {
    const agent = await startAgent(againArgs());
    await agent.stop();
    return 'connected';
  } catch (err) {
    return (err as Error).message;
  }
}

describe('one agent per root', () => {
  it('refuses a second agent on the same root, naming the PID that holds it', async () => {
    const first = cluster.host('dev-1').agent!;
    const outcome = await tryStart();
    expect(outcome).toContain('agent exited with 1');
    expect(outcome).toContain('[E_AGENT_ROOT_LOCKED]');
    expect(outcome).toContain(`PID ${first.child.pid}`);
    // The first one was not disturbed.
    expect(first.child.exitCode).toBeNull();
    const lock = JSON.parse(
      await readFile(path.join(cluster.host('dev-1').root, 'agent', 'agent.pid'), 'utf8'),
    ) as { pid: number };
    expect(lock.pid).toBe(first.child.pid);
  }, 60_000);

  it('takes over the lock file of an agent killed with SIGKILL', async () => {
    await cluster.stopAgent('dev-1', 'SIGKILL');
    await cluster.startAgentAgain('dev-1');
    const again = cluster.host('dev-1').agent!;
    const lock = JSON.parse(
      await readFile(path.join(cluster.host('dev-1').root, 'agent', 'agent.pid'), 'utf8'),
    ) as { pid: number };
    expect(lock.pid).toBe(again.child.pid);
  }, 60_000);

  it('takes over a lock whose PID now names another process', async () => {
    await cluster.stopAgent('dev-1', 'SIGKILL');
    // PID 1 is alive, but it is not the process that wrote this file.
    await writeFile(
      path.join(cluster.host('dev-1').root, 'agent', 'agent.pid'),
      JSON.stringify({ pid: 1, startTime: '1' }),
    );
    await cluster.startAgentAgain('dev-1');
    expect(cluster.host('dev-1').agent!.child.exitCode).toBeNull();
  }, 60_000);

  it('lets exactly one of two agents started together take over a stale lock', async () => {
    await cluster.stopAgent('dev-1', 'SIGKILL');
    for (let round = 0; round < 3; round++) {
      const outcomes = await Promise.allSettled([startAgent(againArgs()), startAgent(againArgs())]);
      const running = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
      const refused = outcomes.flatMap((o) =>
        o.status === 'rejected' ? [(o.reason as Error).message] : [],
      );
      for (const agent of running) {
        const exited = new Promise((resolve) => agent.child.once('exit', resolve));
        agent.child.kill('SIGKILL');
        await exited;
      }
      expect(running).toHaveLength(1);
      expect(refused).toHaveLength(1);
      expect(refused[0]).toContain('[E_AGENT_ROOT_LOCKED]');
    }
    await cluster.startAgentAgain('dev-1');
  }, 60_000);

  it('removes its lock file when stopped with SIGTERM', async () => {
    await cluster.stopAgent('dev-1', 'SIGTERM');
    await expect(
      readFile(path.join(cluster.host('dev-1').root, 'agent', 'agent.pid'), 'utf8'),
    ).rejects.toMatchObject({ code: 'ENOENT' });
  }, 60_000);
});
