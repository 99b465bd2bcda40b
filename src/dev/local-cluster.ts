import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApiClient } from '../cli/api-client.js';
import { FerryError } from '../protocol/errors.js';
import { encodeJoinString } from '../tls/join-string.js';
import { LocalAgent } from './local-agent.js';
import { LocalServer, type LocalServerOptions } from './local-server.js';
import { releasePort, reservePort } from './port-allocator.js';
import { killStragglers, stopServices } from './stop-services.js';

/** How a local cluster is started. */
export interface LocalClusterOptions {
  /** The folder everything goes under; a new temporary one (removed by `stop()`) unless given. */
  root?: string;
  /**
   * The server's options; its data folder is `<root>/server` and its log
   * `<root>/server.log`. Its port, unless given, is one reserved for the cluster.
   */
  server?: Omit<LocalServerOptions, 'data' | 'logFile'>;
  /** `ferry agent` flags every host gets (`--transport-prefix`, say). */
  agentArgs?: (host: { name: string; env: string }) => string[] | Promise<string[]>;
  /** Environment every host's agent gets (`FERRY_TRANSPORT_URL`, kept out of its arguments). */
  agentEnv?: NodeJS.ProcessEnv;
  /** Told each new host's id once its agent has enrolled. */
  onHostEnrolled?: (hostId: string) => void;
  /**
   * How long an agent may take to be listed connected (LocalAgent's default,
   * 30 s, unless told): a benchmark starting many on a busy machine gives more.
   */
  agentReadyTimeoutMs?: number;
}

/** A host of the cluster: a root folder of its own, its service's port, and its agent while it runs. */
export interface LocalHost {
  name: string;
  env: string;
  roles: string[];
  /** `<cluster root>/hosts/<name>`; the agent's log is `agent.log` in it. */
  root: string;
  /**
   * A port reserved for its service until the cluster stops (see PortAllocator),
   * given to the agent as the host variable `PORT`.
   */
  port: number;
  vars: Record<string, string>;
  /** Its own `ferry agent` flags, after the cluster's. */
  agentArgs: string[];
  agent: LocalAgent | undefined;
  /** The id the server gave it when it enrolled. */
  hostId: string;
}

/** What a host is added with. */
export interface LocalHostOptions {
  name: string;
  env: string;
  /** `web` unless told. */
  roles?: string[];
  /** Host variables besides `PORT`. */
  vars?: Record<string, string>;
  /** More `ferry agent` flags for this host (`--driver supervisord`…). */
  agentArgs?: string[];
}

/**
 * A Ferry server and agents on this machine: the one harness behind
 * `ferry demo`, the tests and the benchmarks. Each agent has a root folder of
 * its own (as if on its own host) and its service a port of its own, reserved
 * (see PortAllocator) from when the host is added until the cluster stops, as
 * is the server's, which it is started again on. Readiness
 * is seen through the API: the server answers its health check, a host is
 * listed connected. `stop()` stops the agents, the services they started and
 * the server, SIGTERM first and SIGKILL after a grace period, and leaves no
 * process behind.
 *
 * @example
 *   const cluster = await LocalCluster.start({ server: { config: 'environments: [{ name: qa }]' } });
 *   await cluster.addHost({ name: 'qa-1', env: 'qa', roles: ['hello'] });
 *   await cluster.api.hosts();
 *   await cluster.stop();
 */
export class LocalCluster {
  readonly hosts = new Map<string, LocalHost>();
  private readonly enrolTokens = new Map<string, Promise<string>>();
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly root: string,
    public server: LocalServer,
    private readonly options: LocalClusterOptions,
    private readonly ownsRoot: boolean,
    /** The ports reserved for it, released when it stops. */
    private readonly ports: number[],
  ) {}

  static async start(options: LocalClusterOptions = {}): Promise<LocalCluster> {
    const ownsRoot = options.root === undefined;
    const root = options.root ?? (await mkdtemp(path.join(os.tmpdir(), 'ferry-cluster-')));
    const ports: number[] = [];
    try {
      await mkdir(root, { recursive: true });
      // Reserved, not port 0: the server is started again on it (restartServer),
      // and a port left unbound meanwhile must not be anyone else's.
      let port = options.server?.port;
      if (port === undefined) {
        port = await reservePort();
        ports.push(port);
      }
      const server = await LocalServer.start({
        ...options.server,
        port,
        data: path.join(root, 'server'),
        logFile: path.join(root, 'server.log'),
      });
      return new LocalCluster(root, server, options, ownsRoot, ports);
    } catch (err) {
      for (const port of ports) releasePort(port);
      if (ownsRoot) await rm(root, { recursive: true, force: true });
      throw err;
    }
  }

  /** The server's URL. */
  get url(): string {
    return this.server.url;
  }

  /** The admin's API client, trusting exactly the server's CA. */
  get api(): ApiClient {
    return new ApiClient(this.server.url, this.server.adminToken, this.server.trust);
  }

  /** A join string for a new host of `env` (a new enrolment token; the server's CA pinned). */
  async joinString(env: string): Promise<string> {
    const made = await this.api.createToken({ role: 'agent', env });
    return encodeJoinString({
      server: this.server.url,
      token: made.token,
      ca: made.caFingerprint ?? null,
    });
  }

  host(name: string): LocalHost {
    const host = this.hosts.get(name);
    if (!host) throw new FerryError('E_LOCAL_CLUSTER', `There is no host ${name} in this cluster`);
    return host;
  }

  /**
   * Enrols a host in its environment and starts its agent; resolves once it is
   * listed connected. Hosts may be added side by side (`Promise.all`).
   */
  async addHost(options: LocalHostOptions): Promise<LocalHost> {
    const { name, env } = options;
    // A host whose agent is stopped may be replaced: a new machine taking its name.
    if (isRunning(this.hosts.get(name)?.agent)) {
      throw new FerryError('E_LOCAL_CLUSTER', `The cluster already has a host ${name} running`);
    }
    const host: LocalHost = {
      name,
      env,
      roles: options.roles ?? ['web'],
      root: path.join(this.root, 'hosts', name),
      port: 0,
      vars: options.vars ?? {},
      agentArgs: [],
      agent: undefined,
      hostId: '',
    };
    // In the order asked, before any wait: hosts added side by side stay in order.
    this.hosts.set(name, host);
    host.port = await reservePort();
    this.ports.push(host.port);
    host.agentArgs = [
      ...((await this.options.agentArgs?.({ name, env })) ?? []),
      ...(options.agentArgs ?? []),
    ];
    // One join string (enrolment token) per environment, also when hosts are added side by side.
    let token = this.enrolTokens.get(env);
    if (!token) {
      token = this.joinString(env);
      this.enrolTokens.set(env, token);
      token.catch(() => this.enrolTokens.delete(env));
    }
    host.agent = await this.startAgent(host, await token);
    host.hostId = host.agent.hostId;
    this.options.onHostEnrolled?.(host.hostId);
    return host;
  }

  /** Stops a host's agent; its service keeps running, as on a real host whose agent died. */
  async stopAgent(name: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const host = this.host(name);
    const agent = host.agent;
    host.agent = undefined;
    await agent?.stop({ signal });
  }

  /** Starts a host's agent again, with the identity it keeps under its root. */
  async startAgentAgain(name: string): Promise<LocalAgent> {
    const host = this.host(name);
    if (isRunning(host.agent)) {
      throw new FerryError('E_LOCAL_CLUSTER', `The agent of ${name} is still running`);
    }
    host.agent = await this.startAgent(host, undefined);
    return host.agent;
  }

  /**
   * Stops the server (SIGKILL unless told: it dies) and starts it again on the
   * same port and data; `args` are
   * added to its flags for this start only (`--sign-unsigned-bundles`).
   */
  async restartServer(signal: NodeJS.Signals = 'SIGKILL', args: string[] = []): Promise<void> {
    const port = this.server.port;
    await this.server.stop({ signal, keepData: true });
    this.server = await LocalServer.start({
      ...this.options.server,
      args: [...(this.options.server?.args ?? []), ...args],
      port,
      data: this.server.dataDir,
      logFile: path.join(this.root, 'server.log'),
    });
  }

  /** What each process printed, for a test's or the demo's diagnostics. */
  logs(): string {
    const parts = [`--- server ${this.server.url}\n${this.server.output()}`];
    for (const host of this.hosts.values()) {
      parts.push(`--- agent ${host.name}\n${host.agent?.output() ?? '(not running)'}`);
    }
    return parts.join('\n');
  }

  /**
   * Stops everything: the agents (SIGTERM, then SIGKILL after `graceMs`), the
   * services they left running (as they do by design), then the server; removes
   * a root the harness made. Whatever still runs in a folder under the root is
   * killed. Every step runs even if one before failed; the
   * first failure is thrown at the end. Calling it again waits for the first call.
   */
  stop(options: { graceMs?: number } = {}): Promise<void> {
    this.stopping ??= this.stopAll(options.graceMs);
    return this.stopping;
  }

  private async stopAll(graceMs: number | undefined): Promise<void> {
    const failures: unknown[] = [];
    const attempt = async (step: () => Promise<unknown>) => {
      try {
        await step();
      } catch (err) {
        failures.push(err);
      }
    };
    const grace = graceMs === undefined ? {} : { graceMs };
    await Promise.all(
      [...this.hosts.keys()].map((name) =>
        attempt(async () => {
          const host = this.host(name);
          const agent = host.agent;
          host.agent = undefined;
          await agent?.stop(grace);
        }),
      ),
    );
    await Promise.all(
      [...this.hosts.values()].map((host) => attempt(() => stopServices(host.root, graceMs))),
    );
    await attempt(() => this.server.stop({ ...grace, keepData: true }));
    await attempt(() => killStragglers(this.root));
    // Nothing of the cluster listens any more.
    for (const port of this.ports.splice(0)) releasePort(port);
    if (this.ownsRoot) await attempt(() => rm(this.root, { recursive: true, force: true }));
    if (failures.length > 0) throw failures[0];
  }

  private startAgent(host: LocalHost, join: string | undefined): Promise<LocalAgent> {
    return LocalAgent.start({
      server: this.server.url,
      admin: this.api,
      name: host.name,
      root: host.root,
      env: host.env,
      roles: host.roles,
      // A host's variables are read when it enrols; later starts need none.
      ...(join === undefined ? {} : { join, vars: { PORT: String(host.port), ...host.vars } }),
      args: host.agentArgs,
      ...(this.options.agentEnv === undefined ? {} : { processEnv: this.options.agentEnv }),
      ...(this.options.agentReadyTimeoutMs === undefined
        ? {}
        : { readyTimeoutMs: this.options.agentReadyTimeoutMs }),
      logFile: path.join(host.root, 'agent.log'),
    });
  }
}

/** True while an agent's process has not exited. */
function isRunning(agent: LocalAgent | undefined): boolean {
  return agent !== undefined && agent.child.exitCode === null && agent.child.signalCode === null;
}
