import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { groupMembers, readProcStat } from '../agent/process/builtin/proc-stat.js';
import { writeServiceRecord } from '../agent/process/builtin/service-record.js';
import { ApiClient } from '../cli/api-client.js';
import { FERRY_MAIN } from './ferry-child.js';
import { LocalAgent } from './local-agent.js';
import { LocalCluster } from './local-cluster.js';
import { LocalServer } from './local-server.js';
import {
  DEFAULT_PORT_LOCK_DIR,
  ephemeralRange,
  releasePort,
  reservePort,
} from './port-allocator.js';
import { killStragglers, stopServices } from './stop-services.js';
import { harnessTrust } from './harness-trust.js';

// The harness runs the built CLI; `npm run build` makes it.
const BUILT = existsSync(FERRY_MAIN);
if (!BUILT) console.warn(`${FERRY_MAIN} is missing (npm run build): harness tests SKIPPED`);

let work: string;
beforeEach(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-harness-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

describe.skipIf(!BUILT && process.env.CI !== 'true')('LocalCluster', () => {
  it('is ready when the API says so: the server healthy, each host listed connected', async () => {
    const cluster = await LocalCluster.start({ root: path.join(work, 'cluster') });
    try {
      // Side by side, in the order asked.
      await Promise.all([
        cluster.addHost({ name: 'qa-1', env: 'qa' }),
        cluster.addHost({ name: 'qa-2', env: 'qa' }),
      ]);
      expect([...cluster.hosts.keys()]).toEqual(['qa-1', 'qa-2']);
      // No waiting here: ready meant connected.
      const hosts = await cluster.api.hosts();
      expect(hosts.map((h) => [h.name, h.connected]).sort()).toEqual([
        ['qa-1', true],
        ['qa-2', true],
      ]);
      expect(cluster.host('qa-1').hostId).toBe(hosts.find((h) => h.name === 'qa-1')?.id);
      // The server's port and each service's are reserved for the cluster, outside the
      // range the kernel takes ports for outgoing connections from, where nothing else
      // (another test run, any client) can be given them before they are bound.
      const ports = [cluster.server.port, ...[...cluster.hosts.values()].map((h) => h.port)];
      for (const port of ports) {
        expect(isEphemeral(port), `port ${port}`).toBe(false);
        expect(await lockOwner(port), `port ${port}`).toBe(process.pid);
      }
      expect(new Set(ports).size).toBe(3);
      // The logs are there to look at.
      expect(
        await readFile(path.join(cluster.root, 'hosts', 'qa-1', 'agent.log'), 'utf8'),
      ).not.toBe('');
      expect(cluster.logs()).toContain('--- agent qa-2');

      // An agent started again is ready only once it is connected itself.
      const first = cluster.host('qa-1').agent!.child.pid;
      await cluster.stopAgent('qa-1', 'SIGKILL');
      const again = await cluster.startAgentAgain('qa-1');
      expect(again.child.pid).not.toBe(first);
      expect((await cluster.api.hosts()).find((h) => h.name === 'qa-1')?.connected).toBe(true);
    } finally {
      await cluster.stop();
    }
    // Nothing of it is left running, and its ports are free for others.
    for (const host of cluster.hosts.values()) {
      expect(host.agent).toBeUndefined();
      expect(await lockOwner(host.port)).toBeUndefined();
    }
    expect(cluster.server.child.exitCode ?? cluster.server.child.signalCode).not.toBeNull();
    expect(await lockOwner(cluster.server.port)).toBeUndefined();
  }, 90_000);

  it('starts servers on free ports of their own, and restarts one on the same port', async () => {
    // The port `a` is started again on stays reserved while it is down.
    const port = await reservePort();
    const [a, b] = await Promise.all([LocalServer.start({ port }), LocalServer.start()]);
    try {
      expect(a.url).not.toBe(b.url);
      expect((await new ApiClient(a.url, a.adminToken, harnessTrust()).whoami()).role).toBe(
        'admin',
      );
      // Killed and started again over its data, on its port: the same server.
      await a.stop({ signal: 'SIGKILL', keepData: true });
      const again = await LocalServer.start({ data: a.dataDir, port: a.port });
      expect(again.url).toBe(a.url);
      expect(again.adminToken).toBe(a.adminToken);
      await again.stop();
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      releasePort(port);
    }
    expect(existsSync(b.dataDir)).toBe(false);
  }, 60_000);

  it('fails with what a server printed when it exits before it is ready', async () => {
    const failed = await rejection(
      LocalServer.start({
        data: path.join(work, 'bad'),
        config: 'environments: [{ name: qa, bogus: 1 }]\n',
      }),
    );
    expect(failed).toMatchObject({ code: 'E_LOCAL_CLUSTER' });
    expect(failed.message).toMatch(/server exited with [1-9]/);
    expect(failed.message).toContain('bogus');
  }, 30_000);

  it('fails with what an agent printed when it exits before it is connected', async () => {
    const server = await LocalServer.start();
    try {
      const failed = await rejection(
        LocalAgent.start({
          server: server.url,
          admin: new ApiClient(server.url, server.adminToken, harnessTrust()),
          name: 'nobody',
          root: path.join(work, 'nobody'),
          env: 'qa',
          token: 'not-a-token',
        }),
      );
      expect(failed).toMatchObject({ code: 'E_LOCAL_CLUSTER' });
      expect(failed.message).toMatch(/agent exited with [1-9]/);
    } finally {
      await server.stop();
    }
  }, 30_000);
});

describe('stopServices', () => {
  it('stops a service that ignores SIGTERM with SIGKILL after the grace period, leaving none of its group', async () => {
    const state = path.join(work, 'agent', 'services');
    await mkdir(state, { recursive: true });
    // A group leader that ignores SIGTERM, with a child of its own that does too.
    const child = spawn('/bin/sh', ['-c', "trap '' TERM; sleep 300 & wait"], {
      detached: true,
      stdio: 'ignore',
    });
    const pid = child.pid!;
    const startTime = readProcStat(pid)!.startTime;
    await writeServiceRecord(state, {
      spec: {
        name: 'stubborn',
        cwd: work,
        command: 'sleep 300',
        env: {},
        stdoutFile: path.join(work, 'o.log'),
        stderrFile: path.join(work, 'e.log'),
        stopSignal: 'SIGTERM',
        stopTimeoutMs: 1000,
      },
      wanted: true,
      pid,
      startTime,
      startedAt: Date.now(),
    });
    await waitUntil(() => groupMembers(pid).length === 2);
    const began = Date.now();
    await stopServices(work, 500);
    expect(Date.now() - began).toBeGreaterThanOrEqual(500);
    expect(groupMembers(pid)).toEqual([]);
  }, 30_000);

  it('kills a process left running in a folder of the cluster, and nothing outside it', async () => {
    const folder = path.join(work, 'hosts', 'h1', 'apps');
    await mkdir(folder, { recursive: true });
    const inside = spawn('sleep', ['300'], { cwd: folder, detached: true, stdio: 'ignore' });
    const outside = spawn('sleep', ['300'], { cwd: os.tmpdir(), detached: true, stdio: 'ignore' });
    try {
      await waitUntil(() => readProcStat(inside.pid!) !== null);
      const written: string[] = [];
      const write = process.stderr.write.bind(process.stderr);
      process.stderr.write = (chunk: string | Uint8Array) => written.push(String(chunk)) > 0;
      try {
        await killStragglers(work);
      } finally {
        process.stderr.write = write;
      }
      await waitUntil(() => inside.exitCode !== null || inside.signalCode !== null);
      expect(inside.signalCode).toBe('SIGKILL');
      expect(written.join('')).toContain(String(inside.pid));
      expect(outside.exitCode ?? outside.signalCode).toBeNull();
    } finally {
      outside.kill('SIGKILL');
      inside.kill('SIGKILL');
    }
  });

  it('does nothing for a root where no service ever ran', async () => {
    await stopServices(path.join(work, 'empty'));
  });
});

/** Whether the kernel may give `port` to an outgoing connection. */
function isEphemeral(port: number): boolean {
  const { from, to } = ephemeralRange();
  return port >= from && port <= to;
}

/** The pid that holds `port` in the machine's shared reservations, if any. */
async function lockOwner(port: number): Promise<number | undefined> {
  const text = await readFile(path.join(DEFAULT_PORT_LOCK_DIR, `${port}.lock`), 'utf8').catch(
    () => undefined,
  );
  return text === undefined ? undefined : Number(text.split(' ')[0]);
}

/** The error a promise rejects with; fails if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

async function waitUntil(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
