import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { FERRY_BIN } from './ferry-process.js';

/** A test host as `ferry agent` is told of it. */
export interface HostArgs {
  server: string;
  env: string;
  roles: string[];
  root: string;
  name: string;
  /** The enrolment token; a host that has enrolled starts again without one. */
  token?: string;
  vars?: Record<string, string>;
}

/** `ferry agent` arguments for a test host. */
export function hostAgentArgs(host: HostArgs): string[] {
  const vars = Object.entries(host.vars ?? {}).flatMap(([key, value]) => [
    '--var',
    `${key}=${value}`,
  ]);
  return [
    '--server',
    host.server,
    ...(host.token === undefined ? [] : ['--token', host.token]),
    '--env',
    host.env,
    '--roles',
    host.roles.join(','),
    '--root',
    host.root,
    '--name',
    host.name,
    ...vars,
  ];
}

/** The id the server gave a host, from the identity its agent keeps under its root. */
export async function enrolledHostId(root: string): Promise<string> {
  const identity = JSON.parse(
    await readFile(path.join(root, 'agent', 'identity.json'), 'utf8'),
  ) as { hostId: string };
  return identity.hostId;
}

/** A `ferry agent` child process and what it printed. */
export interface AgentProcess {
  child: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

/** Starts `ferry agent` with these arguments and waits until it is connected to the server. */
export async function startAgent(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<AgentProcess> {
  const child = spawn(process.execPath, [FERRY_BIN, 'agent', ...args], {
    env: { ...process.env, FERRY_SERVER: '', FERRY_TOKEN: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent did not connect:\n${output}`)), 20_000);
    const check = () => {
      // The built-in transport connects to the server; RabbitMQ's to the broker.
      if (
        output.includes('connected to the server') ||
        output.includes('connected to the broker')
      ) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`agent exited with ${code}:\n${output}`));
    });
  });
  return {
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
