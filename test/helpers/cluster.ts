import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { ApiClient } from '../../src/cli/api-client.js';
import { type AgentProcess, enrolledHostId, hostAgentArgs, startAgent } from './agent-process.js';
import { type CliResult, runFerry, type ServerProcess, startServer } from './ferry-process.js';
import { makeTree } from './source-tree.js';

/** A host of the cluster: its agent's root, its service's port, and its agent while it runs. */
export interface ClusterHost {
  name: string;
  env: string;
  roles: string[];
  root: string;
  port: number;
  vars: Record<string, string>;
  agent: AgentProcess | undefined;
  /** Extra `ferry agent` arguments (a transport URL, say). */
  agentArgs: string[];
  /** The id the server gave the host when it enrolled. */
  hostId: string;
}

/** What a cluster is started with. */
export interface ClusterOptions {
  /** The server's YAML config (environments, rollout), written to a file. */
  config?: string;
  serverArgs?: string[];
  serverEnv?: NodeJS.ProcessEnv;
  /** `ferry agent` arguments every host gets (`--transport-url`, say). */
  agentArgs?: (host: { name: string; env: string }) => string[] | Promise<string[]>;
  /** Environment every host's agent gets (`FERRY_TRANSPORT_URL`, a secret kept out of its arguments). */
  agentEnv?: NodeJS.ProcessEnv;
  /** Told each new host's id once its agent has enrolled. */
  onHostEnrolled?: (hostId: string) => void;
}

/**
 * A real Ferry server and real agents on this machine, each agent with its own
 * root and its service on its own port, driven through the real CLI. Closing it
 * stops the agents, the services they started, and the server.
 *
 * @example
 *   const cluster = await Cluster.start();
 *   await cluster.addHost('qa-1', 'qa');
 *   await cluster.ferry(['push', dir]);
 */
export class Cluster {
  readonly hosts = new Map<string, ClusterHost>();
  private readonly enrolTokens = new Map<string, string>();

  private constructor(
    public server: ServerProcess,
    readonly work: string,
    private readonly options: ClusterOptions,
    private readonly serverArgs: string[],
  ) {}

  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-cluster-'));
    const args = [...(options.serverArgs ?? [])];
    if (options.config !== undefined) {
      const file = path.join(work, 'ferry-server.yml');
      await writeFile(file, options.config);
      args.push('--config', file);
    }
    const server = await startServer(args, options.serverEnv ?? {});
    return new Cluster(server, work, options, args);
  }

  /** What the CLI needs: the server, the admin token, a config folder of this cluster's own. */
  get env(): NodeJS.ProcessEnv {
    return {
      FERRY_SERVER: this.server.url,
      FERRY_TOKEN: this.server.adminToken,
      FERRY_CONFIG_DIR: path.join(this.work, 'cli-config'),
    };
  }

  /** An API client with the admin token. */
  api(token = this.server.adminToken): ApiClient {
    return new ApiClient(this.server.url, token);
  }

  /** Runs the CLI as the admin (or with `env` on top). */
  ferry(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    return runFerry(args, { env: { ...this.env, ...env } });
  }

  /** Runs the CLI with `--json`, expects exit 0, and parses what it printed. */
  async json<T>(args: string[]): Promise<T> {
    const result = await this.ferry([...args, '--json']);
    expect(result.code, `ferry ${args.join(' ')}: ${result.stderr}`).toBe(0);
    return JSON.parse(result.stdout) as T;
  }

  /** Makes a token with a role (and environment), for refusal tests. */
  async token(role: string, env?: string): Promise<string> {
    const made = await this.ferry([
      'tokens',
      'create',
      '--role',
      role,
      ...(env ? ['--env', env] : []),
    ]);
    expect(made.code, made.stderr).toBe(0);
    return made.stdout.trim();
  }

  /** Enrols a host and starts its agent, with `PORT` set to a free port and `vars`. */
  async addHost(
    name: string,
    env: string,
    options: { roles?: string[]; vars?: Record<string, string> } = {},
  ): Promise<ClusterHost> {
    const host: ClusterHost = {
      name,
      env,
      roles: options.roles ?? ['web'],
      root: path.join(this.work, 'hosts', name),
      port: await freePort(),
      vars: options.vars ?? {},
      agent: undefined,
      agentArgs: [...((await this.options.agentArgs?.({ name, env })) ?? [])],
      hostId: '',
    };
    this.hosts.set(name, host);
    let token = this.enrolTokens.get(env);
    if (!token) {
      token = await this.token('agent', env);
      this.enrolTokens.set(env, token);
    }
    // The enrolment token in the environment, never in the arguments (which `ps` shows).
    host.agent = await startAgent(
      this.agentArgs(host, { vars: { PORT: String(host.port), ...host.vars } }),
      { ...this.options.agentEnv, FERRY_TOKEN: token },
    );
    host.hostId = await enrolledHostId(host.root);
    this.options.onHostEnrolled?.(host.hostId);
    return host;
  }

  host(name: string): ClusterHost {
    const host = this.hosts.get(name);
    if (!host) throw new Error(`no host ${name} in this cluster`);
    return host;
  }

  /** Stops a host's agent; its service keeps running, as on a real host whose agent died. */
  async stopAgent(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const host = this.host(name);
    const agent = host.agent;
    host.agent = undefined;
    if (!agent || agent.child.exitCode !== null || agent.child.signalCode !== null) return;
    const exited = new Promise((resolve) => agent.child.once('exit', resolve));
    agent.child.kill(signal);
    await exited;
  }

  /** Starts a host's agent again, with the identity it keeps under its root. */
  async startAgentAgain(name: string): Promise<void> {
    const host = this.host(name);
    host.agent = await startAgent(this.agentArgs(host), this.options.agentEnv);
  }

  /** `ferry agent` arguments of a host; its variables only when it enrols. */
  private agentArgs(
    host: ClusterHost,
    enrolment: { vars?: Record<string, string> } = {},
  ): string[] {
    const { name, env, roles, root } = host;
    return [
      ...hostAgentArgs({ server: this.server.url, name, env, roles, root, ...enrolment }),
      ...host.agentArgs,
    ];
  }

  /** Stops the server (SIGKILL by default: it dies) and starts it again on the same port and data. */
  async restartServer(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const port = new URL(this.server.url).port;
    const dataDir = this.server.dataDir;
    await this.server.stop({ keepData: true, signal });
    this.server = await startServer(
      [...this.serverArgs, '--port', port],
      this.options.serverEnv ?? {},
      { dataDir },
    );
  }

  /** Writes a source tree under the cluster's folder and pushes it; returns the version. */
  async push(files: Record<string, string>, label: string): Promise<number> {
    const dir = await makeTree(files, path.join(this.work, 'src', label));
    const pushed = await this.ferry(['push', dir, '--label', label]);
    // A push whose automatic deployment was refused at once exits 1 with
    // E_AUTO_DEPLOY_FAILED; the bundle is pushed all the same.
    if (!pushed.stderr.includes('[E_AUTO_DEPLOY_FAILED]'))
      expect(pushed.code, pushed.stderr).toBe(0);
    return Number(/^\w[\w-]*@(\d+)$/m.exec(pushed.stdout)![1]);
  }

  /** What a host's service answers on /health now, or null when nothing answers. */
  async health(name: string): Promise<{ ok: boolean; version: string; mark?: string } | null> {
    try {
      const response = await fetch(`http://127.0.0.1:${this.host(name).port}/health`, {
        signal: AbortSignal.timeout(2000),
      });
      return (await response.json()) as { ok: boolean; version: string; mark?: string };
    } catch {
      return null;
    }
  }

  async close(): Promise<void> {
    for (const name of this.hosts.keys()) await this.stopAgent(name, 'SIGTERM').catch(() => {});
    // The services the agents started outlive them by design: stop them here.
    for (const host of this.hosts.values()) await killServices(host.root);
    await this.server.stop();
    await rm(this.work, { recursive: true, force: true });
  }
}

/** Kills the process groups of the services the builtin driver started under an agent root. */
export async function killServices(root: string): Promise<void> {
  const dir = path.join(root, 'agent', 'services');
  for (const file of await readdir(dir).catch(() => [])) {
    if (!file.endsWith('.json')) continue;
    const record = JSON.parse(await readFile(path.join(dir, file), 'utf8').catch(() => '{}')) as {
      pid?: number;
    };
    if (record.pid) {
      try {
        process.kill(-record.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Polls until `check` returns a value that is not undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
