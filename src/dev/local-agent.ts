import type { ChildProcess } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ApiClient } from '../cli/api-client.js';
import { FerryError } from '../protocol/errors.js';
import { type ChildExit, FerryChild } from './ferry-child.js';

/** How a local agent is started. */
export interface LocalAgentOptions {
  /** The URL the agent is told of: the server's, or a proxy or balancer in front of it. */
  server: string;
  /**
   * An admin's client of the server (any replica), through which readiness is
   * seen: the host listed connected, since this agent started.
   */
  admin: ApiClient;
  /** The host's name in Ferry. */
  name: string;
  /** Where its releases, logs and state live (as if on a host of its own). */
  root: string;
  /** Its environment and roles; only read on enrolment. */
  env?: string;
  roles?: string[];
  /** Host variables (`--var NAME=VALUE`); only read on enrolment. */
  vars?: Record<string, string>;
  /** The enrolment token, passed in the environment (never the arguments, which `ps` shows). */
  token?: string;
  /** A join string (server, enrolment token, the CA to pin), passed as FERRY_JOIN. */
  join?: string;
  /** More `ferry agent` flags (`--driver`, `--transport-prefix`…). */
  args?: string[];
  /** More environment (`FERRY_TRANSPORT_URL`, a secret kept out of its arguments). */
  processEnv?: NodeJS.ProcessEnv;
  /** A file that also receives what it prints. */
  logFile?: string;
  /** How long it may take to be listed connected; 30 s unless told. */
  readyTimeoutMs?: number;
}

/**
 * A `ferry agent` on this machine, in a root folder of its own. `start()`
 * resolves once the server lists its host as connected by this process (seen
 * since it started), through the API, never from what it logs.
 *
 * @example
 *   const agent = await LocalAgent.start({ server: url, admin, name: 'qa-1', root, env: 'qa', token });
 *   agent.hostId; // from its identity under root
 *   await agent.stop();
 */
export class LocalAgent {
  private id = '';

  private constructor(
    private readonly options: LocalAgentOptions,
    private readonly ferry: FerryChild,
    private readonly startedAt: number,
  ) {}

  /** Starts the agent and waits until it is listed connected; kills it if it never is. */
  static async start(options: LocalAgentOptions): Promise<LocalAgent> {
    const agent = await LocalAgent.spawn(options);
    try {
      await agent.ready();
      return agent;
    } catch (err) {
      await agent.stop({ signal: 'SIGKILL' });
      throw err;
    }
  }

  /**
   * Starts the agent without waiting for it, for a test of what it does before
   * it can connect; `ready()` waits for it then.
   */
  static async spawn(options: LocalAgentOptions): Promise<LocalAgent> {
    await mkdir(options.root, { recursive: true });
    const args = ['agent', ...localAgentArgs(options), ...(options.args ?? [])];
    const env: NodeJS.ProcessEnv = { ...options.processEnv };
    if (options.join !== undefined) env.FERRY_JOIN = options.join;
    else if (options.token !== undefined) env.FERRY_TOKEN = options.token;
    const startedAt = Date.now();
    const child = FerryChild.spawn({
      args,
      env,
      ...(options.logFile === undefined ? {} : { logFile: options.logFile }),
    });
    return new LocalAgent(options, child, startedAt);
  }

  /**
   * Resolves, with the host's id, once the server lists the host connected and
   * seen since this agent started; fails if it exits first or takes longer
   * than `readyTimeoutMs`.
   */
  async ready(): Promise<string> {
    this.id ||= await waitConnected(this.ferry, this.options, this.startedAt);
    return this.id;
  }

  get name(): string {
    return this.options.name;
  }

  get root(): string {
    return this.options.root;
  }

  /** The id the server gave its host; known once `ready()` has resolved. */
  get hostId(): string {
    return this.id;
  }

  /** Its process, to signal or watch it directly. */
  get child(): ChildProcess {
    return this.ferry.process;
  }

  /** Resolves when it has exited, however it ended. */
  get exited(): Promise<ChildExit> {
    return this.ferry.exited;
  }

  /** Everything it has printed so far. */
  output(): string {
    return this.ferry.output();
  }

  /**
   * Stops it: `signal` (SIGTERM unless told), SIGKILL after `graceMs`. The
   * services it started keep running, as on a real host; see `stopServices`.
   */
  stop(options: { signal?: NodeJS.Signals; graceMs?: number } = {}): Promise<ChildExit> {
    return this.ferry.stop(options);
  }
}

/** `ferry agent` flags for a host, without the token (which goes in the environment). */
export function localAgentArgs(host: {
  server: string;
  name: string;
  root: string;
  env?: string;
  roles?: string[];
  vars?: Record<string, string>;
}): string[] {
  return [
    '--server',
    host.server,
    ...(host.env === undefined ? [] : ['--env', host.env]),
    ...(host.roles === undefined ? [] : ['--roles', host.roles.join(',')]),
    '--root',
    host.root,
    '--name',
    host.name,
    ...Object.entries(host.vars ?? {}).flatMap(([key, value]) => ['--var', `${key}=${value}`]),
  ];
}

/** The id the server gave a host, from the identity its agent keeps under its root. */
export async function enrolledHostId(root: string): Promise<string | undefined> {
  const text = await readFile(path.join(root, 'agent', 'identity.json'), 'utf8').catch(() => '');
  if (!text) return undefined;
  return (JSON.parse(text) as { hostId?: string }).hostId;
}

/** The pid in the agent's root lock, `<root>/agent/agent.pid`, or undefined while there is none. */
async function rootHolder(root: string): Promise<number | undefined> {
  const text = await readFile(path.join(root, 'agent', 'agent.pid'), 'utf8').catch(() => '');
  try {
    return (JSON.parse(text) as { pid?: number }).pid;
  } catch {
    // Missing or being replaced: nobody holds it yet.
    return undefined;
  }
}

/**
 * Waits until this agent holds its root and the server lists its host
 * connected and seen since `startedAt` (an earlier agent of the same root may
 * still be listed connected for a moment), and answers its id; fails if the
 * process exits first.
 */
async function waitConnected(
  child: FerryChild,
  options: LocalAgentOptions,
  startedAt: number,
): Promise<string> {
  const timeoutMs = options.readyTimeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let exit: ChildExit | undefined;
  void child.exited.then((e) => (exit = e));
  let lastError = '';
  for (;;) {
    if (exit) {
      throw new FerryError(
        'E_LOCAL_CLUSTER',
        `agent exited with ${exit.code ?? exit.signal}:\n${child.output()}`,
      );
    }
    const hostId = await enrolledHostId(options.root);
    // This process holds the root (another agent of it may still be connected), …
    if (hostId && (await rootHolder(options.root)) === child.pid) {
      try {
        const host = (await options.admin.hosts()).find((h) => h.id === hostId);
        // … and its host is connected, seen since it started (not only before).
        const seen = host?.lastSeenAt ? Date.parse(host.lastSeenAt) : 0;
        if (host?.connected && seen >= startedAt) return hostId;
      } catch (err) {
        // The server may be restarting; say why in the end if it never answers.
        lastError = `; the server last answered: ${(err as Error).message}`;
      }
    }
    if (Date.now() > deadline) {
      throw new FerryError(
        'E_LOCAL_CLUSTER',
        `agent ${options.name} was not listed connected within ${timeoutMs} ms${lastError}:\n${child.output()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
