import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FerryError } from '../../../protocol/errors.js';
import { checkServiceName, prepareServiceFolders } from '../check-service-spec.js';
import { KeyedQueue } from '../keyed-queue.js';
import type { ProcessDriver, ServiceSpec, ServiceStatus } from '../process-driver.js';
import {
  type ControlCommandResult,
  controlCommandFailed,
  runControlCommand,
} from '../run-control-command.js';
import { writePrivateFile } from '../private-file.js';
import { environmentScript, programName, programSection } from './program-section.js';

export interface SupervisordDriverOptions {
  /** supervisord's configuration file, passed to `supervisorctl -c`. */
  configFile: string;
  /** A folder that supervisord's `[include] files=` covers with `*.conf`; one file per service goes there. */
  includeDir: string;
  /**
   * Where each service's environment file goes (`ferry-<name>.env`, mode 0600,
   * the folder 0700): the agent's own state folder. Default: `includeDir`.
   */
  envDir?: string;
  /** The `supervisorctl` program. Default: `supervisorctl` on the agent's PATH. */
  supervisorctl?: string;
  /** Time allowed to one supervisorctl call, on top of the service's stop timeout. Default 30 s. */
  timeoutMs?: number;
}

/** How long `start` waits for a program that supervisord is already starting to reach RUNNING. */
const STARTING_WAIT_MS = 10_000;

/**
 * The `supervisord` process driver: writes `<includeDir>/ferry-<name>.conf`
 * holding a `[program:ferry-<name>]` section (see `programSection`), the
 * service's environment in `<envDir>/ferry-<name>.env` (mode 0600), and drives
 * `supervisorctl -c <configFile>`. A stopped service's files are removed, so
 * that a restart of supervisord does not bring it back.
 *
 * @example
 *   const driver = new SupervisordDriver({
 *     configFile: '/etc/supervisor/supervisord.conf',
 *     includeDir: '/etc/supervisor/conf.d',
 *   });
 */
export class SupervisordDriver implements ProcessDriver {
  readonly kind = 'supervisord';

  private readonly queue = new KeyedQueue();
  private readonly supervisorctl: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: SupervisordDriverOptions) {
    this.supervisorctl = options.supervisorctl ?? 'supervisorctl';
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  async start(spec: ServiceSpec): Promise<void> {
    const section = programSection(spec, this.envFile(spec.name));
    await this.queue.run(spec.name, async () => {
      const { fresh, envChanged } = await this.install(spec, section);
      // Same section, new environment: the running program still has the old one.
      if (!fresh && envChanged) await this.restartProgram(spec);
      else await this.startProgram(spec);
    });
  }

  async restart(spec: ServiceSpec): Promise<void> {
    const section = programSection(spec, this.envFile(spec.name));
    await this.queue.run(spec.name, async () => {
      const { fresh } = await this.install(spec, section);
      // `update` just (re)added the program, and autostart runs it.
      if (fresh) await this.startProgram(spec);
      else await this.restartProgram(spec);
    });
  }

  private async restartProgram(spec: ServiceSpec): Promise<void> {
    const args = ['restart', programName(spec.name)];
    const result = await this.ctl(args, spec.stopTimeoutMs);
    if (!this.started(args, result, spec.name)) throw this.failed(args, result, spec.name);
  }

  async stop(name: string): Promise<void> {
    checkServiceName(name);
    await this.queue.run(name, async () => {
      const program = programName(name);
      const args = ['stop', program];
      const result = await this.ctl(args, await this.stopWaitMs(name));
      const known = !result.stdout.includes('ERROR (no such process)');
      if (known && !/: stopped$|ERROR \(not running\)/m.test(result.stdout)) {
        throw this.failed(args, result, name);
      }
      await rm(this.sectionFile(name), { force: true });
      await rm(this.envFile(name), { force: true });
      if (known) await this.update(name);
    });
  }

  async status(name: string): Promise<ServiceStatus> {
    checkServiceName(name);
    const { state, pid } = await this.programState(name);
    return state === 'RUNNING' ? { running: true, pid } : { running: false, pid: null };
  }

  async close(): Promise<void> {
    await this.queue.idle();
  }

  /**
   * Writes the environment file and the section (when they changed) and has
   * supervisord load it. `fresh` when `update` added or replaced the program,
   * which then starts by itself; `envChanged` when the environment file did.
   */
  private async install(
    spec: ServiceSpec,
    section: string,
  ): Promise<{ fresh: boolean; envChanged: boolean }> {
    // supervisord would find out only after its start retries, seconds later.
    await prepareServiceFolders(spec);
    await mkdir(this.options.includeDir, { recursive: true });
    await mkdir(this.envDir, { recursive: true, mode: 0o700 });
    // Written first: the section's program reads it when it starts.
    const envChanged = await writePrivateFile(this.envFile(spec.name), environmentScript(spec));
    const file = this.sectionFile(spec.name);
    const before = await readFile(file, 'utf8').catch(() => null);
    if (before !== section) {
      // Named so that the include glob (`*.conf`) never sees a half-written file.
      const temporary = path.join(this.options.includeDir, `.${path.basename(file)}.tmp`);
      await writeFile(temporary, section, { mode: 0o600 });
      await rename(temporary, file);
    }
    const output = await this.update(spec.name);
    return { fresh: /: (added|updated) process group$/m.test(output), envChanged };
  }

  /** `supervisorctl update ferry-<name>`: loads, replaces or removes this one program. */
  private async update(name: string): Promise<string> {
    const args = ['update', programName(name)];
    const result = await this.ctl(args, this.timeoutMs);
    if (result.exitCode !== 0 || /ERROR/.test(result.stdout)) {
      throw this.failed(args, result, name);
    }
    return result.stdout;
  }

  /** Starts the program and returns once it is RUNNING. */
  private async startProgram(spec: ServiceSpec): Promise<void> {
    const args = ['start', programName(spec.name)];
    const result = await this.ctl(args, this.timeoutMs);
    if (this.started(args, result, spec.name)) return;
    if (!result.stdout.includes('ERROR (already started)'))
      throw this.failed(args, result, spec.name);
    // Already started also means "starting" (autostart after update), which is
    // not yet running: wait for supervisord to make up its mind.
    const deadline = Date.now() + STARTING_WAIT_MS;
    for (;;) {
      const { state, line } = await this.programState(spec.name);
      if (state === 'RUNNING') return;
      if (state !== 'STARTING' && state !== 'BACKOFF') {
        throw new FerryError(
          'E_SERVICE_START_FAILED',
          `supervisord could not start ${programName(spec.name)}: ${line}`,
          { service: spec.name, state },
        );
      }
      if (Date.now() > deadline) return; // still trying; the health check decides
      await sleep(200);
    }
  }

  /** Parses `supervisorctl status ferry-<name>`: `ferry-cart   RUNNING   pid 123, uptime 0:01:02`. */
  private async programState(
    name: string,
  ): Promise<{ state: string; pid: number | null; line: string }> {
    const program = programName(name);
    const args = ['status', program];
    const result = await this.ctl(args, this.timeoutMs);
    if (result.stdout.includes(`${program}: ERROR (no such process)`)) {
      return { state: 'UNKNOWN', pid: null, line: result.stdout.trim() };
    }
    const line = result.stdout.split('\n').find((l) => l.startsWith(`${program} `));
    const match = line === undefined ? null : /^\S+\s+([A-Z]+)\b(.*)$/.exec(line);
    if (line === undefined || match === null) throw this.failed(args, result, name);
    const pid = /\bpid (\d+)/.exec(match[2] ?? '');
    return { state: match[1] ?? '', pid: pid ? Number(pid[1]) : null, line: line.trim() };
  }

  /**
   * True when `start` or `restart` printed `started`; `E_SERVICE_START_FAILED`
   * when supervisord tried and the service failed; false for anything else.
   */
  private started(args: string[], result: ControlCommandResult, name: string): boolean {
    if (/: started$/m.test(result.stdout)) return true;
    if (/ERROR \((spawn error|abnormal termination)\)/.test(result.stdout)) {
      throw new FerryError(
        'E_SERVICE_START_FAILED',
        `supervisord could not start ${programName(name)}: ${result.stdout.trim()} (its stderr file and supervisord's log say why)`,
        { service: name, command: ['supervisorctl', ...args].join(' '), stdout: result.stdout },
      );
    }
    return false;
  }

  /** The stop timeout written in the service's section, which supervisorctl stop may take. */
  private async stopWaitMs(name: string): Promise<number> {
    const section = await readFile(this.sectionFile(name), 'utf8').catch(() => '');
    const seconds = /^stopwaitsecs=(\d+)$/m.exec(section)?.[1];
    return seconds === undefined ? this.timeoutMs : Number(seconds) * 1000;
  }

  private ctl(args: string[], extraTimeoutMs: number): Promise<ControlCommandResult> {
    return runControlCommand(
      this.supervisorctl,
      ['-c', this.options.configFile, ...args],
      this.timeoutMs + extraTimeoutMs,
    );
  }

  private failed(args: string[], result: ControlCommandResult, name: string): FerryError {
    const why = result.stdout.includes('no such group')
      ? `supervisord does not load ${this.sectionFile(name)}: does its [include] files= cover ${this.options.includeDir}/*.conf?`
      : `supervisord could not ${args[0] ?? 'run'} ${programName(name)}`;
    return controlCommandFailed(
      this.supervisorctl,
      ['-c', this.options.configFile, ...args],
      result,
      why,
    );
  }

  private get envDir(): string {
    return this.options.envDir ?? this.options.includeDir;
  }

  private envFile(name: string): string {
    return path.join(this.envDir, `${programName(name)}.env`);
  }

  private sectionFile(name: string): string {
    return path.join(this.options.includeDir, `${programName(name)}.conf`);
  }
}
