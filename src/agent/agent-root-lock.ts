import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FerryError } from '../protocol/errors.js';
import { readProcStat } from './process/builtin/proc-stat.js';

/** What the lock file holds: the agent's pid and its start time, which together name one process. */
interface LockHolder {
  pid: number;
  /** Field 22 of `/proc/<pid>/stat`; null where there is no /proc. */
  startTime: string | null;
}

/** A held lock on an agent root. */
export interface AgentRootLock {
  file: string;
  /** Removes the lock file, if it is still this process's. */
  release(): Promise<void>;
}

/**
 * Takes `<root>/agent/agent.pid` for this process, so that one agent at a time
 * works on a root: two would fight over the connection, the downloads and the
 * releases. A file left by an agent that died (kill -9, power cut) is taken
 * over: its holder is gone, or is a zombie, or its pid now names another
 * process (the start time differs).
 *
 * @example
 *   const lock = await lockAgentRoot('/srv/ferry/agent'); // throws E_AGENT_ROOT_LOCKED
 *   await lock.release();
 */
export async function lockAgentRoot(agentDir: string): Promise<AgentRootLock> {
  const file = path.join(agentDir, 'agent.pid');
  const me: LockHolder = {
    pid: process.pid,
    startTime: readProcStat(process.pid)?.startTime ?? null,
  };
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(file, `${JSON.stringify(me)}\n`, { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = await readHolder(file);
    if (holder !== null && isAlive(holder)) {
      throw new FerryError(
        'E_AGENT_ROOT_LOCKED',
        `Another agent (PID ${holder.pid}) is running on ${path.dirname(agentDir)}; one agent per root`,
        { pid: holder.pid, lockFile: file },
      );
    }
    // A stale file (or one cut short by a crash while it was written): take it over.
    if (attempt >= 3) {
      throw new FerryError(
        'E_AGENT_ROOT_LOCKED',
        `Could not take the agent lock ${file}: another agent is starting on the same root`,
        { lockFile: file },
      );
    }
    await rm(file, { force: true });
  }
  return {
    file,
    async release() {
      const holder = await readHolder(file);
      if (holder?.pid === me.pid) await rm(file, { force: true });
    },
  };
}

async function readHolder(file: string): Promise<LockHolder | null> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<LockHolder>;
    if (typeof parsed.pid !== 'number' || !Number.isInteger(parsed.pid) || parsed.pid <= 0) {
      return null;
    }
    return { pid: parsed.pid, startTime: parsed.startTime ?? null };
  } catch {
    // Gone, or half-written by an agent killed while writing it: no holder.
    return null;
  }
}

/** True while the process that wrote the lock still runs (a zombie has exited: PID 1 reaps it late). */
function isAlive(holder: LockHolder): boolean {
  if (holder.pid === process.pid) return false;
  const stat = readProcStat(holder.pid);
  if (stat !== null) {
    if (stat.state === 'Z' || stat.state === 'X') return false;
    return holder.startTime === null || stat.startTime === holder.startTime;
  }
  if (holder.startTime !== null) return false;
  // No /proc: ask the kernel whether the pid exists.
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
