import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built CLI, as `npx ferry` runs it. */
export const FERRY_BIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

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
 * to start a server again over the same data) and waits until it listens.
 * `--port N` in `extraArgs` overrides the free port.
 */
export async function startServer(
  extraArgs: string[] = [],
  env: NodeJS.ProcessEnv = {},
  options: { dataDir?: string } = {},
): Promise<ServerProcess> {
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'ferry-server-')));
  const child = spawn(
    process.execPath,
    [FERRY_BIN, 'server', '--data', dataDir, '--port', '0', '--log-level', 'warn', ...extraArgs],
    {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 20_000);
    const check = () => {
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output}`));
    });
  });
  // A second replica of a shared store writes no admin token: the first one did.
  const adminToken = (
    await readFile(path.join(dataDir, 'admin-token'), 'utf8').catch(() => '')
  ).trim();
  return {
    url,
    dataDir,
    adminToken,
    child,
    output: () => output,
    async stop(stopOptions = {}) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill(stopOptions.signal ?? 'SIGTERM');
        await exited;
      }
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
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
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
