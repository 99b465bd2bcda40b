import { type ChildProcess, spawn } from 'node:child_process';
import { FERRY_BIN } from './ferry-process.js';

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
