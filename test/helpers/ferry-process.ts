import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FERRY_MAIN } from '../../src/dev/ferry-child.js';
import { LocalServer } from '../../src/dev/local-server.js';

/** The built CLI, as `npx ferry` runs it. */
export const FERRY_BIN = FERRY_MAIN;

/** A `ferry server` child process on a free port, with its data folder and admin token. */
export interface ServerProcess {
  url: string;
  dataDir: string;
  adminToken: string;
  child: ChildProcess;
  output: () => string;
  /** Stops the server (SIGTERM unless told) and removes its data folder unless `keepData`. */
  stop(options?: { keepData?: boolean; signal?: NodeJS.Signals }): Promise<void>;
}

/**
 * Starts `ferry server --port 0` in a fresh temporary data folder (or `dataDir`,
 * to start a server again over the same data) through the local-cluster
 * harness, which waits until it answers its health check. `--port N` in
 * `extraArgs` overrides the free port.
 */
export async function startServer(
  extraArgs: string[] = [],
  env: NodeJS.ProcessEnv = {},
  options: { dataDir?: string } = {},
): Promise<ServerProcess> {
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'ferry-server-')));
  const server = await LocalServer.start({ data: dataDir, args: extraArgs, env }).catch(
    async (err: unknown) => {
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
      throw err;
    },
  );
  return {
    url: server.url,
    dataDir,
    adminToken: server.adminToken,
    child: server.child,
    output: () => server.output(),
    async stop(stopOptions = {}) {
      await server.stop(stopOptions.signal ? { signal: stopOptions.signal } : {});
      if (!stopOptions.keepData) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** What a finished CLI run printed, and how it exited. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the `ferry` CLI as a child process, as a person would from a shell. */
export function runFerry(args: string[], options: RunOptions = {}): Promise<CliResult> {
  return runCommand(process.execPath, [FERRY_BIN, ...args], options);
}

/** How `runCommand` runs: `timeoutMs` kills a command that has not ended by then. */
export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** Written to the command's stdin, which is then closed (else stdin is /dev/null). */
  input?: string;
}

/**
 * Runs a command to its end with no Ferry server or token from this machine's
 * environment (unless `options.env` gives them), and answers what it printed.
 * With `timeoutMs`, a command still running then is killed and the call fails
 * with what it had printed, so a hang says where it was.
 */
export function runCommand(
  command: string,
  args: string[],
  options: RunOptions = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, FERRY_SERVER: '', FERRY_TOKEN: '', ...options.env },
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (options.input !== undefined) child.stdin!.end(options.input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            child.kill('SIGKILL');
            reject(
              new Error(
                `${path.basename(args[1] ?? command)} ${args.slice(2).join(' ')} did not end within ${options.timeoutMs} ms; it printed:\n${stdout}${stderr}`,
              ),
            );
          }, options.timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
