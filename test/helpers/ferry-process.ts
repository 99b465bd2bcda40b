import { type ChildProcess, spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FERRY_MAIN } from '../../src/dev/ferry-child.js';
import { harnessCaFile } from '../../src/dev/harness-trust.js';
import { LocalServer } from '../../src/dev/local-server.js';
import { releasePort, reservePort } from '../../src/dev/port-allocator.js';

/** The built CLI, as `npx ferry` runs it. */
export const FERRY_BIN = FERRY_MAIN;

/** A `ferry server` child process on a port reserved for it, with its data folder and admin token. */
export interface ServerProcess {
  url: string;
  dataDir: string;
  adminToken: string;
  child: ChildProcess;
  output: () => string;
  /**
   * Stops the server (SIGTERM unless told). Unless `keepData`, removes its data
   * folder and gives its port back; kept, the port stays reserved, so that
   * whatever still points at its URL (a balancer, an agent) finds nothing there
   * rather than another process's server.
   */
  stop(options?: { keepData?: boolean; signal?: NodeJS.Signals }): Promise<void>;
}

/**
 * Starts `ferry server` in a fresh temporary data folder (or `dataDir`, to
 * start a server again over the same data) through the local-cluster harness,
 * which waits until it answers its health check. Its port is reserved (see
 * PortAllocator), not the system's pick of port 0: a port from the ephemeral
 * range, left unbound once the server dies, may be given to anyone. `--port N`
 * in `extraArgs` overrides it.
 */
export async function startServer(
  extraArgs: string[] = [],
  env: NodeJS.ProcessEnv = {},
  options: {
    dataDir?: string;
    /**
     * Another replica's data folder: its CA (`tls/ca.pem`, `tls/ca-key.pem`) is
     * copied into this one first, as an operator does for replicas behind one
     * address, so that agents pinning that CA trust every replica.
     */
    caFrom?: string;
  } = {},
): Promise<ServerProcess> {
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'ferry-server-')));
  if (options.caFrom !== undefined) {
    await mkdir(path.join(dataDir, 'tls'), { recursive: true, mode: 0o700 });
    for (const file of ['ca.pem', 'ca-key.pem']) {
      await copyFile(path.join(options.caFrom, 'tls', file), path.join(dataDir, 'tls', file));
    }
  }
  const port = await reservePort();
  const server = await LocalServer.start({ data: dataDir, port, args: extraArgs, env }).catch(
    async (err: unknown) => {
      releasePort(port);
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
      if (stopOptions.keepData) return;
      await rm(dataDir, { recursive: true, force: true });
      releasePort(port);
    },
  };
}

/** What a finished CLI run printed, and how it exited. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the `ferry` CLI as a child process, as a person would from a shell,
 * trusting the CAs of the servers this test started (`FERRY_CA_FILE`) unless
 * `options.env` says otherwise.
 */
export function runFerry(args: string[], options: RunOptions = {}): Promise<CliResult> {
  return runCommand(process.execPath, [FERRY_BIN, ...args], {
    ...options,
    env: { FERRY_CA_FILE: harnessCaFile(), ...options.env },
  });
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
