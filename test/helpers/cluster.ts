import path from 'node:path';
import { expect } from 'vitest';
import { ApiClient } from '../../src/cli/api-client.js';
import { LocalCluster, type LocalHost } from '../../src/dev/local-cluster.js';
import type { LocalServer } from '../../src/dev/local-server.js';
import { stopServices } from '../../src/dev/stop-services.js';
import { type CliResult, runFerry } from './ferry-process.js';
import { makeTree } from './source-tree.js';
import { harnessTrust } from '../../src/dev/harness-trust.js';
import { decodeJoinString } from '../../src/tls/join-string.js';

/** A host of the cluster: its agent's root, its service's port, and its agent while it runs. */
export type ClusterHost = LocalHost;

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
 * The local-cluster harness (src/dev) with what tests add: the real CLI run
 * against it, pushes of source trees, and expectations. Closing it stops the
 * agents, the services they started, and the server, and removes its folder.
 *
 * @example
 *   const cluster = await Cluster.start();
 *   await cluster.addHost('qa-1', 'qa');
 *   await cluster.ferry(['push', dir]);
 */
export class Cluster {
  private constructor(private readonly local: LocalCluster) {}

  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    const local = await LocalCluster.start({
      server: {
        ...(options.config === undefined ? {} : { config: options.config }),
        args: options.serverArgs ?? [],
        env: options.serverEnv ?? {},
      },
      ...(options.agentArgs ? { agentArgs: options.agentArgs } : {}),
      ...(options.agentEnv ? { agentEnv: options.agentEnv } : {}),
      ...(options.onHostEnrolled ? { onHostEnrolled: options.onHostEnrolled } : {}),
    });
    return new Cluster(local);
  }

  /** The cluster's folder: the server's data, the hosts' roots, the logs. */
  get work(): string {
    return this.local.root;
  }

  get server(): LocalServer {
    return this.local.server;
  }

  get hosts(): Map<string, ClusterHost> {
    return this.local.hosts;
  }

  /** What the CLI needs: the server, the admin token, a config folder of this cluster's own. */
  get env(): NodeJS.ProcessEnv {
    return {
      FERRY_SERVER: this.server.url,
      FERRY_TOKEN: this.server.adminToken,
      FERRY_CONFIG_DIR: path.join(this.work, 'cli-config'),
      // The server's own CA, which the CLI trusts for it.
      ...(this.server.caPem === undefined ? {} : { FERRY_CA_FILE: this.server.caFile }),
    };
  }

  /** An API client with the admin token. */
  api(token = this.server.adminToken): ApiClient {
    return new ApiClient(this.server.url, token, harnessTrust());
  }

  /** Runs the CLI as the admin (or with `env` on top). */
  ferry(
    args: string[],
    env: NodeJS.ProcessEnv = {},
    options: { input?: string } = {},
  ): Promise<CliResult> {
    return runFerry(args, { env: { ...this.env, ...env }, input: options.input });
  }

  /** Runs the CLI with `--json`, expects exit 0, and parses what it printed. */
  async json<T>(args: string[]): Promise<T> {
    const result = await this.ferry([...args, '--json']);
    expect(result.code, `ferry ${args.join(' ')}: ${result.stderr}`).toBe(0);
    return JSON.parse(result.stdout) as T;
  }

  /**
   * Sets a variable with `ferry vars set`, its value on stdin (never in the
   * arguments, which `ps` shows), and expects it set; answers what it printed.
   */
  async setVar(
    name: string,
    value: string,
    scope: { env?: string; app?: string; host?: string; secret?: boolean } = {},
  ): Promise<string> {
    const args = ['vars', 'set', name];
    for (const key of ['env', 'app', 'host'] as const) {
      const where = scope[key];
      if (where !== undefined) args.push(`--${key}`, where);
    }
    if (scope.secret) args.push('--secret');
    const set = await this.ferry(args, {}, { input: value });
    expect(set.code, `ferry ${args.join(' ')}: ${set.stderr}`).toBe(0);
    return set.stdout;
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
    // An agent's comes as a join string: the token is inside.
    const printed = made.stdout.trim();
    return printed.startsWith('ferry-join-v1.') ? decodeJoinString(printed).token : printed;
  }

  /** Enrols a host and starts its agent, with `PORT` set to a port reserved for it and `vars`. */
  addHost(
    name: string,
    env: string,
    options: { roles?: string[]; vars?: Record<string, string> } = {},
  ): Promise<ClusterHost> {
    return this.local.addHost({ name, env, ...options });
  }

  host(name: string): ClusterHost {
    return this.local.host(name);
  }

  /** Stops a host's agent (SIGKILL unless told); its service keeps running, as on a real host whose agent died. */
  stopAgent(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    return this.local.stopAgent(name, signal);
  }

  /** Starts a host's agent again, with the identity it keeps under its root. */
  async startAgentAgain(name: string): Promise<void> {
    await this.local.startAgentAgain(name);
  }

  /**
   * Stops the server (SIGKILL by default: it dies) and starts it again on the
   * same port and data, with `args` added to its flags for this start.
   */
  restartServer(signal: NodeJS.Signals = 'SIGKILL', args: string[] = []): Promise<void> {
    return this.local.restartServer(signal, args);
  }

  /**
   * Writes a source tree under the cluster's folder (`src/<dir>`, the label
   * unless told: several apps pushed with one label each need a folder of
   * their own) and pushes it; returns the version.
   */
  async push(
    files: Record<string, string>,
    label: string,
    options: { dir?: string } = {},
  ): Promise<number> {
    const dir = await makeTree(files, path.join(this.work, 'src', options.dir ?? label));
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

  /** What each process printed, for a failing test's message. */
  logs(): string {
    return this.local.logs();
  }

  close(): Promise<void> {
    return this.local.stop();
  }
}

/** Stops the services the builtin driver started under an agent root (once its agent is stopped). */
export const killServices = (root: string): Promise<void> => stopServices(root);

/**
 * A port for a service a test starts: outside the ephemeral range and reserved
 * across processes until released or this process exits (see PortAllocator).
 */
export { releasePort, reservePort } from '../../src/dev/port-allocator.js';

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
