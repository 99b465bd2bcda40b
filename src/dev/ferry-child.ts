import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The `ferry` entry point the harness runs: `dist/main.js` beside this file once
 * built, and the built one too when this file runs from its TypeScript source
 * (tests), since a child process runs JavaScript.
 */
export const FERRY_MAIN = (() => {
  const here = fileURLToPath(import.meta.url);
  const fromSource = here.endsWith('.ts');
  return path.resolve(path.dirname(here), fromSource ? '../../dist/main.js' : '../main.js');
})();

/** How long a process has, after SIGTERM (or the signal given), before SIGKILL. */
export const DEFAULT_GRACE_MS = 10_000;

/** How to start one `ferry` process. */
export interface FerryChildOptions {
  /** `ferry` arguments: `['server', '--data', …]`. */
  args: string[];
  /**
   * Its environment on top of this process's, which loses every `FERRY_*`
   * variable first: a child gets only the Ferry settings it is given.
   */
  env?: NodeJS.ProcessEnv;
  /** A file that also receives everything it prints (stdout and stderr). */
  logFile?: string;
}

/** How a process ended. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A `ferry` child process of the harness, with what it printed kept for
 * diagnostics. `stop()` asks it to stop, kills it after a grace period, and
 * resolves once it has exited.
 *
 * @example
 *   const child = FerryChild.spawn({ args: ['server', '--data', dir, '--port', '0'] });
 *   await child.stop();
 */
export class FerryChild {
  /** Resolves when the process has exited, however it ended. */
  readonly exited: Promise<ChildExit>;
  private text = '';
  private readonly log: WriteStream | undefined;

  private constructor(
    readonly process: ChildProcess,
    logFile: string | undefined,
  ) {
    this.log = logFile ? createWriteStream(logFile, { flags: 'a', mode: 0o600 }) : undefined;
    // A log file that cannot be written costs the diagnostics, not the process.
    this.log?.on('error', () => undefined);
    const keep = (chunk: Buffer) => {
      this.text += chunk.toString();
      this.log?.write(chunk);
    };
    process.stdout?.on('data', keep);
    process.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      // 'exit', not 'close': a process it left behind may hold its output pipes open.
      process.once('exit', (code, signal) => {
        this.log?.end();
        resolve({ code, signal });
      });
      // A process that could not be spawned at all ends here too.
      process.once('error', (err) => {
        this.text += `${err.message}\n`;
        this.log?.end();
        resolve({ code: null, signal: null });
      });
    });
  }

  /** Starts `ferry` with these arguments. */
  static spawn(options: FerryChildOptions): FerryChild {
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith('FERRY_')),
    );
    const child = spawn(process.execPath, [FERRY_MAIN, ...options.args], {
      env: { ...inherited, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new FerryChild(child, options.logFile);
  }

  /** Its process id (undefined only when it could not be spawned). */
  get pid(): number | undefined {
    return this.process.pid;
  }

  /** True until it has exited. */
  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /** Everything it has printed so far, stdout and stderr interleaved as they came. */
  output(): string {
    return this.text;
  }

  /**
   * Sends `signal` (SIGTERM unless told), then SIGKILL if it is still running
   * after `graceMs`; resolves once it has exited. A process already gone is fine.
   */
  async stop(options: { signal?: NodeJS.Signals; graceMs?: number } = {}): Promise<ChildExit> {
    if (this.running) {
      this.process.kill(options.signal ?? 'SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), options.graceMs ?? DEFAULT_GRACE_MS);
      });
      const outcome = await Promise.race([this.exited, late]);
      clearTimeout(timer);
      if (outcome === 'late' && this.running) this.process.kill('SIGKILL');
    }
    return this.exited;
  }
}
