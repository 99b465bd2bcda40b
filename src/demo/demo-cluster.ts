import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BuiltinDriver } from '../agent/process/builtin/builtin-driver.js';
import { ApiClient } from '../cli/api-client.js';
import { FerryError } from '../protocol/errors.js';

const MAIN = fileURLToPath(new URL('../main.js', import.meta.url));

/** The demo's hosts: one in dev, two in qa, three in prod. */
export const DEMO_HOSTS = [
  { name: 'dev-1', env: 'dev' },
  { name: 'qa-1', env: 'qa' },
  { name: 'qa-2', env: 'qa' },
  { name: 'prod-1', env: 'prod' },
  { name: 'prod-2', env: 'prod' },
  { name: 'prod-3', env: 'prod' },
] as const;

/** One demo host: its agent's root, the port its service listens on, its agent process. */
export interface DemoHost {
  name: string;
  env: string;
  root: string;
  port: number;
  child: ChildProcess;
}

/** The server's settings for the demo: the default lifecycle, quick to notice a host gone. */
const DEMO_CONFIG = `# Written by ferry demo.
environments:
  - { name: dev }
  - { name: qa, autoDeploy: true, strategy: { batch: 1, maxFailures: 0, offlineTimeout: 20s } }
  - { name: prod, requires: passed, strategy: { batch: 1, maxFailures: 0, rollbackOnFailure: true, offlineTimeout: 20s } }
`;

/**
 * A Ferry server and six agents on this machine, under one folder: each agent
 * with its own root (as if on its own host) and its service on its own port.
 * `stop()` stops the agents, the services they started, and the server.
 */
export class DemoCluster {
  private constructor(
    readonly root: string,
    readonly url: string,
    readonly adminToken: string,
    private readonly server: ChildProcess,
    readonly hosts: DemoHost[],
  ) {}

  /** The admin's API client. */
  get api(): ApiClient {
    return new ApiClient(this.url, this.adminToken);
  }

  static async start(root: string): Promise<DemoCluster> {
    const data = path.join(root, 'server');
    await mkdir(data, { recursive: true });
    const config = path.join(root, 'server.yml');
    await writeFile(config, DEMO_CONFIG);
    const server = spawn(
      process.execPath,
      [MAIN, 'server', '--data', data, '--port', '0', '--config', config, '--log-level', 'warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const log = createWriteStream(path.join(root, 'server.log'));
    server.stderr?.pipe(log);
    const url = await new Promise<string>((resolve, reject) => {
      let output = '';
      server.stdout?.on('data', (chunk: Buffer) => {
        log.write(chunk);
        output += chunk.toString();
        const match = /listening on (http:\/\/\S+)/.exec(output);
        if (match) resolve(match[1]!);
      });
      server.once('exit', (code) =>
        reject(new Error(`the demo server exited with ${code}:\n${output}`)),
      );
    });
    const adminToken = (await readFile(path.join(data, 'admin-token'), 'utf8')).trim();
    const cluster = new DemoCluster(root, url, adminToken, server, []);
    try {
      const enrolTokens = new Map<string, string>();
      for (const { name, env } of DEMO_HOSTS) {
        let token = enrolTokens.get(env);
        if (!token) {
          token = (await cluster.api.createToken({ role: 'agent', env, name: `demo-${env}` }))
            .token;
          enrolTokens.set(env, token);
        }
        cluster.hosts.push(await startAgent(url, token, root, name, env));
      }
      await cluster.waitConnected();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  host(name: string): DemoHost {
    const host = this.hosts.find((h) => h.name === name);
    if (!host) throw new Error(`no demo host ${name}`);
    return host;
  }

  /** What a host's service answers on `/health`, or null when nothing answers. */
  async health(name: string): Promise<{ ok: boolean; version: string } | null> {
    try {
      const response = await fetch(`http://127.0.0.1:${this.host(name).port}/health`, {
        signal: AbortSignal.timeout(2000),
      });
      if (!response.ok) return null;
      return (await response.json()) as { ok: boolean; version: string };
    } catch {
      return null;
    }
  }

  /** Stops the agents, then the services they left running (as they do by design), then the server. */
  async stop(): Promise<void> {
    await Promise.all(this.hosts.map((h) => stopChild(h.child)));
    for (const host of this.hosts) {
      const driver = new BuiltinDriver(path.join(host.root, 'agent', 'services'), {
        onEvent: () => undefined,
      });
      try {
        await driver.stop('hello');
      } catch {
        // No service was ever started on this host.
      } finally {
        await driver.close();
      }
    }
    await stopChild(this.server);
  }

  /** Resolves when the server exits by itself (it crashed, or someone stopped it). */
  serverExited(): Promise<void> {
    return new Promise((resolve) => this.server.once('exit', () => resolve()));
  }

  private async waitConnected(): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const hosts = await this.api.hosts();
      if (hosts.length === DEMO_HOSTS.length && hosts.every((h) => h.connected)) return;
      if (Date.now() > deadline) {
        throw new FerryError(
          'E_INTERNAL',
          `The demo's agents did not all connect within 30 s; see their logs under ${this.root}/hosts`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

async function startAgent(
  server: string,
  token: string,
  root: string,
  name: string,
  env: string,
): Promise<DemoHost> {
  const hostRoot = path.join(root, 'hosts', name);
  await mkdir(hostRoot, { recursive: true });
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      MAIN,
      'agent',
      '--server',
      server,
      '--env',
      env,
      '--roles',
      'hello',
      '--root',
      hostRoot,
      '--name',
      name,
      '--var',
      `PORT=${port}`,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      // The demo's own FERRY_* settings are not the agent's; its enrolment token
      // goes in the environment, where `ps` does not show it.
      env: { ...process.env, FERRY_SERVER: '', FERRY_TOKEN: token },
    },
  );
  const log = createWriteStream(path.join(hostRoot, 'agent.log'));
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return { name, env, root: hostRoot, port, child };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
