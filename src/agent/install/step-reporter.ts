import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { type AgentEventBody, PROTOCOL_VERSION } from '../../protocol/messages.js';
import type { AgentTransport } from '../../transport/transport.js';
import { SECRET_MASK, SecretMasker } from './secret-masker.js';

/** Output pieces are sent in chunks of at most this many characters. */
const CHUNK = 64 * 1024;

/** How long a step's output is gathered into one piece before it is sent. */
const OUTPUT_GATHER_MS = 50;

export { SECRET_MASK };

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
  /** The secret values to mask. */
  private masker = new SecretMasker([]);

  constructor(
    private readonly transport: AgentTransport,
    private readonly jobId: string,
  ) {}

  /**
   * From now on, replaces each of these values with `SECRET_MASK` in every piece
   * of output and every error this reporter sends — commands are echoed after
   * their `${NAME}`s are filled, and a command may print what it was given.
   */
  maskSecrets(values: string[]): void {
    this.masker = new SecretMasker(values);
  }

  /** Reports an event about this job, with secret values masked in its error. */
  emit(body: AgentEventBody): void {
    const masked =
      (body.type === 'step.finished' || body.type === 'job.finished') && body.error !== null
        ? { ...body, error: this.mask(body.error) }
        : body;
    this.transport.emit({ v: PROTOCOL_VERSION, id: randomUUID(), ...masked });
  }

  private mask(text: string): string {
    return this.masker.mask(text);
  }

  /** Runs one step; a thrown error ends it as failed, with the error as its message. */
  async step(name: string, body: (context: StepContext) => Promise<void>): Promise<StepOutcome> {
    const started = Date.now();
    const seq = { stdout: 0, stderr: 0 };
    const emitOutput = (stream: 'stdout' | 'stderr', masked: string) => {
      for (let i = 0; i < masked.length; i += CHUNK) {
        this.emit({
          type: 'step.output',
          jobId: this.jobId,
          step: name,
          stream,
          seq: seq[stream]++,
          text: masked.slice(i, i + CHUNK),
        });
      }
    };
    // Output that comes in many small writes (a line each) travels as one piece
    // per stream every OUTPUT_GATHER_MS: each piece is an event the server writes
    // and acknowledges, and a step's lines come mostly together. A change of
    // stream sends what was gathered first, so the two streams keep their order.
    let gathered: { stream: 'stdout' | 'stderr'; text: string } | undefined;
    let gatherTimer: NodeJS.Timeout | undefined;
    const sendGathered = () => {
      clearTimeout(gatherTimer);
      gatherTimer = undefined;
      if (gathered !== undefined) emitOutput(gathered.stream, gathered.text);
      gathered = undefined;
    };
    const send = (stream: 'stdout' | 'stderr', masked: string) => {
      if (masked === '') return;
      if (gathered !== undefined && gathered.stream !== stream) sendGathered();
      gathered = { stream, text: (gathered?.text ?? '') + masked };
      if (gathered.text.length >= CHUNK) sendGathered();
      else gatherTimer ??= setTimeout(sendGathered, OUTPUT_GATHER_MS);
    };
    // Each stream is masked as one text, whatever pieces it comes in: a secret
    // split across two writes, or spanning lines, is still seen whole. Only a
    // tail that may begin a secret waits for the next piece (or the step's end).
    const masking = { stdout: this.masker.stream(), stderr: this.masker.stream() };
    const write = (stream: 'stdout' | 'stderr', text: string) =>
      send(stream, masking[stream].push(text));
    const flush = () => {
      for (const stream of ['stdout', 'stderr'] as const) send(stream, masking[stream].end());
      sendGathered();
    };
    let exitCode: number | null = null;
    const context: StepContext = {
      out: (text) => write('stdout', text),
      err: (text) => write('stderr', text),
      run: async (command, options) => {
        write('stdout', `$ ${command}\n`);
        const end = await runCommand(command, options, write);
        exitCode = end.code;
        if (end.timedOut) {
          throw new StepFailure(
            `\`${command}\` was killed after its timeout of ${options.timeoutMs / 1000} s`,
          );
        }
        if (exitCode !== 0) {
          throw new StepFailure(`\`${command}\` exited with code ${exitCode}`, exitCode);
        }
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
      const message = this.mask(err instanceof Error ? err.message : String(err));
      write('stderr', `${message}\n`);
      outcome = { ok: false, error: message };
    }
    flush();
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

/** How a command ended: its exit code, or killed at its timeout. */
interface CommandEnd {
  code: number | null;
  timedOut: boolean;
}

/** The process groups of the hooks and install commands running now. */
const runningGroups = new Set<number>();

/**
 * Kills every hook and install command still running, with its process group.
 * Synchronous, for a process about to exit: the agent gives up an install it
 * leaves to its next start, and must not leave its commands running beside the re-run.
 */
export function killRunningCommands(): void {
  for (const pgid of runningGroups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // Already gone (ESRCH).
    }
  }
  runningGroups.clear();
}

/** After the command itself exits, how long its output may still take to drain. */
const OUTPUT_GRACE_MS = 2_000;

/**
 * Runs `/bin/sh -c command` in its own process group. At the timeout the whole
 * group is killed. The command's end is its exit: a daemon it started that
 * still holds the output pipes gets a short grace, then the pipes are closed.
 */
function runCommand(
  command: string,
  options: { cwd: string; env: Record<string, string>; timeoutMs: number },
  write: (stream: 'stdout' | 'stderr', text: string) => void,
): Promise<CommandEnd> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const pgid = child.pid;
    if (pgid !== undefined) runningGroups.add(pgid);
    child.stdout.setEncoding('utf8').on('data', (text: string) => write('stdout', text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => write('stderr', text));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      write('stderr', `timed out after ${options.timeoutMs} ms: killing it\n`);
      for (const target of [-(child.pid ?? 0), child.pid ?? 0]) {
        try {
          // The whole process group first: a command's own children go with it.
          if (target !== 0) process.kill(target, 'SIGKILL');
        } catch {
          // Already gone (ESRCH): nothing left to kill.
        }
      }
    }, options.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new StepFailure(`could not run \`${command}\`: ${err.message}`));
    });
    child.on('exit', (code) => {
      if (pgid !== undefined) runningGroups.delete(pgid);
      clearTimeout(timer);
      const done = () => resolve({ code, timedOut });
      const grace = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        done();
      }, OUTPUT_GRACE_MS);
      child.once('close', () => {
        clearTimeout(grace);
        done();
      });
    });
  });
}
