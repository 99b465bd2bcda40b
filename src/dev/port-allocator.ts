import {
  chmodSync,
  linkSync,
  mkdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { FerryError } from '../protocol/errors.js';

/** A range of TCP ports, both ends included. */
export interface PortRange {
  from: number;
  to: number;
}

/** Where reservations are kept unless told: one file per port, shared by every process here. */
export const DEFAULT_PORT_LOCK_DIR = path.join(os.tmpdir(), 'ferry-ports');

/** The ports handed out unless told: below the kernel's usual ephemeral range (32768–60999). */
export const DEFAULT_PORT_RANGE: PortRange = { from: 20000, to: 32000 };

/** How a port allocator is made. */
export interface PortAllocatorOptions {
  /** The folder of reservations; every process that shares it never gets a port another holds. */
  dir?: string;
  /** The ports it may hand out; those in the ephemeral range are left out. */
  range?: PortRange;
  /** The kernel's ephemeral range, never handed out; read from /proc unless told. */
  ephemeral?: PortRange;
}

/**
 * Ports for services that someone else binds later (an app a test deploys, a
 * server started again on its port). Asking the system for port 0 and closing
 * the probe is not enough: until the service binds it, another process may be
 * given the same port by the same trick, and any outgoing connection may take
 * it, since the kernel picks both from its ephemeral range. So a port here is
 * taken from outside that range, reserved across processes by a file
 * `<dir>/<port>.lock` created exclusively with the owner's pid (and start
 * time, so a reused pid is not mistaken for it), and checked bindable before
 * it is handed out. A reservation whose owner has died is taken over. It is
 * released by `release()`, or when the process exits.
 *
 * @example
 *   const port = await PortAllocator.shared().reserve();
 *   // … start a service on `port` …
 *   PortAllocator.shared().release(port);
 */
export class PortAllocator {
  private static sharedOne: PortAllocator | undefined;
  readonly dir: string;
  readonly range: PortRange;
  private readonly ephemeral: PortRange;
  private readonly held = new Set<number>();
  private readonly owner = ownerLine(process.pid);

  constructor(options: PortAllocatorOptions = {}) {
    this.dir = options.dir ?? DEFAULT_PORT_LOCK_DIR;
    this.range = options.range ?? DEFAULT_PORT_RANGE;
    this.ephemeral = options.ephemeral ?? ephemeralRange();
    live.add(this);
  }

  /** The allocator of this process over the shared folder: the one the harness and tests use. */
  static shared(): PortAllocator {
    PortAllocator.sharedOne ??= new PortAllocator();
    return PortAllocator.sharedOne;
  }

  /**
   * A port no other allocator over the same folder holds, outside the
   * ephemeral range, that could be bound on 127.0.0.1 just now. Fails with
   * E_LOCAL_CLUSTER when every port of the range is taken.
   */
  async reserve(): Promise<number> {
    ensureDir(this.dir);
    const size = this.range.to - this.range.from + 1;
    // From a random place in the range: processes starting together seldom compete.
    const start = Math.floor(Math.random() * size);
    for (let i = 0; i < size; i++) {
      const port = this.range.from + ((start + i) % size);
      if (this.held.has(port) || this.isEphemeral(port)) continue;
      if (!this.lock(port)) continue;
      if (await bindable(port)) {
        this.held.add(port);
        return port;
      }
      // Something that does not ask us listens there: leave it be.
      this.unlock(port);
    }
    throw new FerryError(
      'E_LOCAL_CLUSTER',
      `No free port left in ${this.range.from}–${this.range.to} outside the ephemeral range ` +
        `${this.ephemeral.from}–${this.ephemeral.to}: every one is bound or reserved in ${this.dir}`,
      { range: this.range, dir: this.dir },
    );
  }

  /** Gives a port back; one this allocator does not hold is ignored. */
  release(port: number): void {
    if (!this.held.delete(port)) return;
    this.unlock(port);
  }

  /** Gives every port back (on exit, synchronously). */
  releaseAll(): void {
    for (const port of [...this.held]) this.release(port);
  }

  private isEphemeral(port: number): boolean {
    return port >= this.ephemeral.from && port <= this.ephemeral.to;
  }

  private lockFile(port: number): string {
    return path.join(this.dir, `${port}.lock`);
  }

  /** Takes the port's lock file, or takes over one whose owner has died. */
  private lock(port: number): boolean {
    const file = this.lockFile(port);
    if (createWith(file, this.owner)) return true;
    const holder = readOwner(file);
    if (holder === undefined) return createWith(file, this.owner); // released meanwhile
    if (isAlive(holder)) return false;
    return this.takeOver(port, holder);
  }

  /**
   * Replaces a dead owner's lock. Only the holder of `<port>.reclaim` may remove
   * the lock of another process, so two processes that both saw it dead cannot
   * both remove it (the second would remove the first one's new lock). A
   * reclaim file left by a process that died while holding it leaves the port
   * unused, never shared.
   */
  private takeOver(port: number, dead: string): boolean {
    const file = this.lockFile(port);
    const reclaim = path.join(this.dir, `${port}.reclaim`);
    if (!createWith(reclaim, this.owner)) return false;
    try {
      if (readOwner(file) === dead) unlinkSync(file);
      return createWith(file, this.owner);
    } catch {
      return false; // the other user's lock in a shared folder: not ours to remove
    } finally {
      unlinkSync(reclaim);
    }
  }

  private unlock(port: number): void {
    const file = this.lockFile(port);
    if (readOwner(file) === this.owner) unlinkSync(file);
  }
}

/** Every allocator of this process, released when it exits. */
const live = new Set<PortAllocator>();
process.once('exit', () => {
  for (const allocator of live) allocator.releaseAll();
});

/** The kernel's ephemeral range (Linux); 32768–65535 where it cannot be read. */
export function ephemeralRange(): PortRange {
  try {
    const [from, to] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (from !== undefined && to !== undefined && from > 0 && to >= from) return { from, to };
  } catch {
    // Not Linux: the range every common system uses lies within this.
  }
  return { from: 32768, to: 65535 };
}

/** The folder of lock files, shared by the users of this machine (sticky, as /tmp is). */
function ensureDir(dir: string): void {
  try {
    mkdirSync(dir);
    chmodSync(dir, 0o1777);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    if (!statSync(dir).isDirectory()) {
      throw new FerryError('E_LOCAL_CLUSTER', `${dir} is not a folder: it holds port reservations`);
    }
  }
}

/**
 * Creates `file` holding `content`, atomically and only if it does not exist:
 * written aside, then hard-linked into place, so no reader ever sees it empty.
 */
function createWith(file: string, content: string): boolean {
  const aside = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  writeFileSync(aside, content, { mode: 0o644 });
  try {
    linkSync(aside, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    unlinkSync(aside);
  }
}

/** What a lock file says of its owner, or undefined when there is no such file. */
function readOwner(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** `<pid> <start time>`: the start time tells a reused pid from the owner. */
function ownerLine(pid: number): string {
  return `${pid} ${startTime(pid) ?? '-'}\n`;
}

/** Whether the process a lock file names still runs (a lock that cannot be read counts as live). */
function isAlive(owner: string): boolean {
  const [pidText, started] = owner.trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it runs, as another user.
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const now = startTime(pid);
  return started === undefined || started === '-' || now === undefined || now === started;
}

/** A process's start time in clock ticks since boot (Linux `/proc/<pid>/stat`, field 22). */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whether something could listen on 127.0.0.1:`port` now (nothing else listens there). */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      probe.close(() => resolve(true));
    });
  });
}

/** A port reserved by this process's shared allocator; see `PortAllocator`. */
export function reservePort(): Promise<number> {
  return PortAllocator.shared().reserve();
}

/** Gives back a port from `reservePort()`. */
export function releasePort(port: number): void {
  PortAllocator.shared().release(port);
}
