import { spawn } from 'node:child_process';
import { mkdir, open } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { FerryError } from '../../../protocol/errors.js';
import {
  checkServiceName,
  checkServiceSpec,
  prepareServiceFolders,
} from '../check-service-spec.js';
import { KeyedQueue } from '../keyed-queue.js';
import type { ProcessDriver, ServiceSpec, ServiceStatus } from '../process-driver.js';
import { groupMembers, isRunning, readProcStat } from './proc-stat.js';
import { type ServiceRecord, readServiceRecords, writeServiceRecord } from './service-record.js';

/** What the driver tells its owner about supervision; the agent logs these. */
export type BuiltinDriverEvent =
  | { type: 'adopted'; name: string; pid: number }
  | { type: 'exited'; name: string; pid: number | null; uptimeMs: number }
  | { type: 'restarting'; name: string; delayMs: number; attempt: number }
  | { type: 'restarted'; name: string; pid: number }
  | { type: 'error'; name: string | null; error: unknown };

export interface BuiltinDriverOptions {
  /** How often each service's process is looked for in /proc. Default 250 ms. */
  pollIntervalMs?: number;
  /** First restart delay; it doubles with each death in a row. Default 1 s. */
  backoffInitialMs?: number;
  /** Longest restart delay. Default 30 s. */
  backoffMaxMs?: number;
  /** A service that stayed up this long starts again from the first delay. Default 10 s. */
  backoffResetMs?: number;
  /** Called for each supervision event. Default: errors and exits go to the console. */
  onEvent?: (event: BuiltinDriverEvent) => void;
}

/**
 * What the service's `/bin/sh -c` runs first: it waits on fd 3 for the driver's
 * `go`, sent only once the service's pid is recorded, then closes fd 3 and
 * becomes `/bin/sh -c <command>` (same pid and group). A driver that dies
 * between spawn and record (the agent killed, a full disk) closes fd 3 with
 * nothing sent: the shell exits without running the command, instead of
 * leaving a service no record knows of, holding its port against every later
 * start while health checks are answered by it.
 */
const GATED_START = 'IFS= read -r go <&3 && [ "$go" = go ] && exec 3<&- && exec /bin/sh -c "$1"';

/** A second signal is never needed after SIGKILL, but the kernel may take a moment to tear a group down. */
const KILL_GRACE_MS = 5_000;

interface Supervised {
  record: ServiceRecord;
  /** Deaths in a row, for the backoff. */
  failures: number;
  respawnTimer: NodeJS.Timeout | null;
}

/**
 * The `builtin` process driver: the agent spawns each service itself, as
 * `/bin/sh -c <command>` in its own process group (detached, so it outlives
 * the agent), with exactly `spec.env` and its stdout and stderr appended to two
 * files. It restarts a service that dies, with exponential backoff, and keeps
 * each service's pid, process start time and spec in `stateDir`, so that a
 * new driver over the same folder (the agent restarted) adopts the running
 * services instead of starting them twice.
 *
 * Death is seen by polling `/proc/<pid>`, not by waiting on the child: after an
 * agent restart the service is no longer its child. A zombie counts as dead.
 *
 * @example
 *   const driver = new BuiltinDriver('/srv/ferry/agent/services');
 *   await driver.start(spec);
 *   await driver.close(); // the service keeps running
 */
export class BuiltinDriver implements ProcessDriver {
  readonly kind = 'builtin';

  private readonly services = new Map<string, Supervised>();
  private readonly queue = new KeyedQueue();
  private readonly loaded: Promise<void>;
  private readonly pollIntervalMs: number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly backoffResetMs: number;
  private readonly onEvent: (event: BuiltinDriverEvent) => void;
  private pollTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly stateDir: string,
    options: BuiltinDriverOptions = {},
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
    this.backoffInitialMs = options.backoffInitialMs ?? 1_000;
    this.backoffMaxMs = options.backoffMaxMs ?? 30_000;
    this.backoffResetMs = options.backoffResetMs ?? 10_000;
    this.onEvent = options.onEvent ?? reportToConsole;
    // Adoption starts at once, so supervision resumes even before the agent
    // calls anything; every method waits for it.
    this.loaded = this.load();
  }

  async start(spec: ServiceSpec): Promise<void> {
    checkServiceSpec(spec);
    await this.ready();
    await this.queue.run(spec.name, async () => {
      const current = this.services.get(spec.name);
      if (
        current?.record.wanted === true &&
        sameSpec(current.record.spec, spec) &&
        this.isUp(current.record)
      ) {
        return;
      }
      if (current) await this.terminate(current);
      await this.launch(spec);
    });
  }

  async stop(name: string): Promise<void> {
    checkServiceName(name);
    await this.ready();
    await this.queue.run(name, async () => {
      const current = this.services.get(name);
      if (!current) return;
      // Saved before any signal, so an agent that dies mid-stop does not bring it back.
      current.record.wanted = false;
      await writeServiceRecord(this.stateDir, current.record);
      await this.terminate(current);
    });
  }

  async restart(spec: ServiceSpec): Promise<void> {
    checkServiceSpec(spec);
    await this.ready();
    await this.queue.run(spec.name, async () => {
      const current = this.services.get(spec.name);
      if (current) await this.terminate(current);
      await this.launch(spec);
    });
  }

  async status(name: string): Promise<ServiceStatus> {
    checkServiceName(name);
    await this.ready();
    const record = this.services.get(name)?.record;
    if (record?.wanted !== true || !this.isUp(record)) return { running: false, pid: null };
    return { running: true, pid: record.pid };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = null;
    for (const service of this.services.values()) this.cancelRespawn(service);
    await this.loaded;
    await this.queue.idle();
  }

  private async ready(): Promise<void> {
    if (this.closed) throw new FerryError('E_INTERNAL', 'The builtin process driver is closed');
    await this.loaded;
  }

  /** Reads the state folder, adopts what still runs, and starts polling. Never rejects. */
  private async load(): Promise<void> {
    try {
      await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
      const records = await readServiceRecords(this.stateDir, (file, error) =>
        this.onEvent({
          type: 'error',
          name: null,
          error: new FerryError('E_INTERNAL', `Unreadable service record ${file}, ignored`, {
            file,
            reason: String(error),
          }),
        }),
      );
      for (const record of records) {
        this.services.set(record.spec.name, { record, failures: 0, respawnTimer: null });
        if (record.wanted && record.pid !== null && this.isUp(record)) {
          this.onEvent({ type: 'adopted', name: record.spec.name, pid: record.pid });
        }
        // A wanted service that died while no agent watched is restarted by the first poll.
      }
    } catch (error) {
      this.onEvent({ type: 'error', name: null, error });
    }
    this.schedulePoll();
  }

  private schedulePoll(): void {
    if (this.closed) return;
    this.pollTimer = setTimeout(() => {
      for (const [name, service] of this.services) {
        // A service busy with start, stop or restart is looked at next round.
        if (service.record.wanted && !service.respawnTimer && !this.queue.busy(name)) {
          this.check(name);
        }
      }
      this.schedulePoll();
    }, this.pollIntervalMs);
  }

  /** Looks whether a wanted service still runs, and schedules its restart if not. */
  private check(name: string): void {
    this.queue
      .run(name, async () => {
        const service = this.services.get(name);
        if (!service || this.closed || !service.record.wanted || service.respawnTimer) return;
        const { record } = service;
        if (this.isUp(record)) return;
        const uptimeMs = record.startedAt === null ? 0 : Date.now() - record.startedAt;
        this.onEvent({ type: 'exited', name, pid: record.pid, uptimeMs });
        // Children it left behind in its group would hold its port against the
        // new one, so they go the way a stop would send them.
        await this.terminate(service);
        if (uptimeMs >= this.backoffResetMs) service.failures = 0;
        const delayMs = Math.min(this.backoffInitialMs * 2 ** service.failures, this.backoffMaxMs);
        service.failures += 1;
        this.onEvent({ type: 'restarting', name, delayMs, attempt: service.failures });
        service.respawnTimer = setTimeout(() => {
          service.respawnTimer = null;
          this.respawn(name);
        }, delayMs);
      })
      .catch((error: unknown) => this.onEvent({ type: 'error', name, error }));
  }

  private respawn(name: string): void {
    this.queue
      .run(name, async () => {
        const service = this.services.get(name);
        if (!service || this.closed || !service.record.wanted || this.isUp(service.record)) return;
        const pid = await this.spawnService(service.record.spec, service);
        this.onEvent({ type: 'restarted', name, pid });
      })
      .catch((error: unknown) => this.onEvent({ type: 'error', name, error }));
  }

  /** Spawns a service that was asked for now, with a fresh backoff. */
  private async launch(spec: ServiceSpec): Promise<void> {
    const service: Supervised = this.services.get(spec.name) ?? {
      record: { spec, wanted: true, pid: null, startTime: null, startedAt: null },
      failures: 0,
      respawnTimer: null,
    };
    this.cancelRespawn(service);
    service.failures = 0;
    service.record.spec = spec;
    service.record.wanted = true;
    this.services.set(spec.name, service);
    await this.spawnService(spec, service);
  }

  private async spawnService(spec: ServiceSpec, service: Supervised): Promise<number> {
    await prepareServiceFolders(spec);
    const stdout = await open(spec.stdoutFile, 'a', 0o600);
    const stderr = await open(spec.stderrFile, 'a', 0o600).catch(async (error: unknown) => {
      await stdout.close();
      throw error;
    });
    let pid: number | undefined;
    let startTime: string | undefined;
    let gate: Writable | null = null;
    try {
      const child = spawn('/bin/sh', ['-c', GATED_START, 'ferry-service', spec.command], {
        cwd: spec.cwd,
        env: { ...spec.env },
        // Its own session and process group: it survives the agent, and stop
        // signals reach the whole group.
        detached: true,
        stdio: ['ignore', stdout.fd, stderr.fd, 'pipe'],
      });
      gate = child.stdio[3] as Writable | null;
      // The child may be gone before the gate opens; that shows as its exit.
      gate?.on('error', () => undefined);
      pid = child.pid;
      // Read before any await: until the event loop turns, node cannot reap
      // the child, so this pid is still this process even if it already died.
      if (pid !== undefined) startTime = readProcStat(pid)?.startTime;
      child.on('error', (error) => this.onEvent({ type: 'error', name: spec.name, error }));
      // While it is our child, its exit is seen at once instead of at the next poll.
      child.on('exit', () => {
        if (!this.closed) this.check(spec.name);
      });
      child.unref();
    } finally {
      await stdout.close();
      await stderr.close();
    }
    if (pid === undefined) {
      gate?.destroy();
      throw new FerryError('E_SERVICE_START_FAILED', `Service ${spec.name} could not be spawned`, {
        service: spec.name,
      });
    }
    // A start time of '' means it was gone before it could be read: the next poll restarts it.
    service.record.pid = pid;
    service.record.startTime = startTime ?? '';
    service.record.startedAt = Date.now();
    try {
      await writeServiceRecord(this.stateDir, service.record);
    } catch (error) {
      // Closed without the word: the child exits without running the command.
      gate?.destroy();
      throw error;
    }
    // Recorded: a driver that dies from here on finds it and adopts it.
    // Closed once flushed, so that it holds neither the agent's event loop nor the child.
    gate?.end('go\n', () => gate?.destroy());
    return pid;
  }

  /**
   * Sends the stop signal to the service's process group, waits up to
   * `stopTimeoutMs` for every process of it to end, then sends SIGKILL.
   */
  private async terminate(service: Supervised): Promise<void> {
    this.cancelRespawn(service);
    const { record } = service;
    const { pid, startTime } = record;
    if (pid !== null && startTime !== null) {
      const gone = () => !isRunning(pid, startTime) && !ownGroupLeft(pid, startTime);
      if (!gone()) {
        signalGroup(pid, record.spec.stopSignal);
        if (!(await waitFor(gone, record.spec.stopTimeoutMs))) {
          signalGroup(pid, 'SIGKILL');
          if (!(await waitFor(gone, KILL_GRACE_MS))) {
            throw new FerryError(
              'E_SERVICE_STOP_FAILED',
              `Service ${record.spec.name} (process group ${pid}) is still running after SIGKILL`,
              { service: record.spec.name, pid, left: groupMembers(pid) },
            );
          }
        }
      }
    }
    record.pid = null;
    record.startTime = null;
    record.startedAt = null;
    await writeServiceRecord(this.stateDir, record);
  }

  private isUp(record: ServiceRecord): boolean {
    return (
      record.pid !== null && record.startTime !== null && isRunning(record.pid, record.startTime)
    );
  }

  private cancelRespawn(service: Supervised): void {
    if (service.respawnTimer) clearTimeout(service.respawnTimer);
    service.respawnTimer = null;
  }
}

/**
 * True while processes of the service's group may be left after its leader
 * `pid` (started at `startTime`) died: children it left behind keep the group.
 * A group id stays taken while any member lives, so once `pid` belongs to
 * another process (a later start time: the pid was reused, or the host
 * rebooted), the service's group is gone, and a group `pid` now is another
 * program's — never to be signalled.
 */
function ownGroupLeft(pid: number, startTime: string): boolean {
  const leader = readProcStat(pid);
  // '' is a start time that could not be read: nothing to tell another process by.
  if (leader !== null && startTime !== '' && leader.startTime !== startTime) return false;
  return groupMembers(pid).length > 0;
}

/** Signals a whole process group; a group that is already gone is fine. */
function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/**
 * Polls `condition` until it holds or `timeoutMs` passed: after 2 ms first,
 * doubling up to 50 ms. A service that stops at its signal is usually gone
 * within a few milliseconds, and a restart (a rollback's) waits only that long.
 */
async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let pause = 2;
  while (!condition()) {
    if (Date.now() >= deadline) return false;
    await sleep(pause);
    pause = Math.min(pause * 2, 50);
  }
  return true;
}

/** Two specs are the same when they would run the same process; env order does not matter. */
function sameSpec(a: ServiceSpec, b: ServiceSpec): boolean {
  return canonical(a) === canonical(b);
}

function canonical(spec: ServiceSpec): string {
  const env = Object.entries(spec.env).sort(([x], [y]) => (x < y ? -1 : 1));
  const { name, cwd, command, stdoutFile, stderrFile, stopSignal, stopTimeoutMs } = spec;
  return JSON.stringify([
    name,
    cwd,
    command,
    env,
    stdoutFile,
    stderrFile,
    stopSignal,
    stopTimeoutMs,
  ]);
}

/** The driver's default report of its events: errors and exits to the console. */
export function reportToConsole(event: BuiltinDriverEvent): void {
  if (event.type === 'error') {
    console.error(`ferry builtin driver: ${event.name ?? 'state'}:`, event.error);
  } else if (event.type === 'exited') {
    console.warn(`ferry builtin driver: service ${event.name} (pid ${event.pid}) exited`);
  }
}
