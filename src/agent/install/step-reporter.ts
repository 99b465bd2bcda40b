import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { type AgentEventBody, PROTOCOL_VERSION } from '../../protocol/messages.js';
import type { AgentTransport } from '../../transport/transport.js';

/** Output pieces are sent in chunks of at most this many characters. */
const CHUNK = 64 * 1024;

/** What a step did, for the pipeline to decide what comes next. */
export interface StepOutcome {
  ok: boolean;
  error: string | null;
}

/** A failed step: its message goes into the report. */
export class StepFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null = null,
  ) {
    super(message);
  }
}

/** What a step's body can do: write output that is streamed to the server as it comes. */
export interface StepContext {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Runs a shell command in `cwd` with exactly `env`, streaming its output; throws `StepFailure` on a non-zero exit. */
  run(
    command: string,
    options: { cwd: string; env: Record<string, string>; timeoutMs: number },
  ): Promise<void>;
}

/**
 * Runs the steps of one job and reports each to the server: its start, its
 * stdout and stderr as they happen (in numbered pieces, so a repeated delivery
 * is harmless), and its end with exit code and duration.
 */
export class StepReporter {
  constructor(
    private readonly transport: AgentTransport,
    private readonly jobId: string,
  ) {}

  /** Reports an event about this job. */
  emit(body: AgentEventBody): void {
    this.transport.emit({ v: PROTOCOL_VERSION, id: randomUUID(), ...body });
  }

  /** Runs one step; a thrown error ends it as failed, with the error as its message. */
  async step(name: string, body: (context: StepContext) => Promise<void>): Promise<StepOutcome> {
    const started = Date.now();
    const seq = { stdout: 0, stderr: 0 };
    const write = (stream: 'stdout' | 'stderr', text: string) => {
      for (let i = 0; i < text.length; i += CHUNK) {
        this.emit({
          type: 'step.output',
          jobId: this.jobId,
          step: name,
          stream,
          seq: seq[stream]++,
          text: text.slice(i, i + CHUNK),
        });
      }
    };
    let exitCode: number | null = null;
    const context: StepContext = {
      out: (text) => write('stdout', text),
      err: (text) => write('stderr', text),
      run: async (command, options) => {
        write('stdout', `$ ${command}\n`);
        exitCode = await runCommand(command, options, write);
        if (exitCode !== 0)
          throw new StepFailure(`\`${command}\` exited with code ${exitCode}`, exitCode);
      },
    };
    this.emit({
      type: 'step.started',
      jobId: this.jobId,
      step: name,
      at: new Date().toISOString(),
    });
    let outcome: StepOutcome;
    try {
      await body(context);
      outcome = { ok: true, error: null };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      write('stderr', `${message}\n`);
      outcome = { ok: false, error: message };
    }
    this.emit({
      type: 'step.finished',
      jobId: this.jobId,
      step: name,
      ok: outcome.ok,
      exitCode,
      durationMs: Date.now() - started,
      error: outcome.error,
    });
    return outcome;
  }
}

/** Runs `/bin/sh -c command`; resolves with its exit code (null when killed on timeout). */
function runCommand(
  command: string,
  options: { cwd: string; env: Record<string, string>; timeoutMs: number },
  write: (stream: 'stdout' | 'stderr', text: string) => void,
): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    child.stdout.setEncoding('utf8').on('data', (text: string) => write('stdout', text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => write('stderr', text));
    const timer = setTimeout(() => {
      write('stderr', `timed out after ${options.timeoutMs} ms: killing it\n`);
      // The whole process group: a command's own children go with it.
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    }, options.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new StepFailure(`could not run \`${command}\`: ${err.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}
