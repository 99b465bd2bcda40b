import { link, readFile, rm, stat, writeFile } from 'node:fs/promises';
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
  // Written whole first and linked into place: the lock file is never seen half-written.
  const mine = `${file}.${process.pid}`;
  await writeFile(mine, `${JSON.stringify(me)}\n`, { mode: 0o600 });
  try {
    for (let attempt = 0; ; attempt++) {
      if (await linkOrExists(mine, file)) break;
      const holder = await readHolder(file);
      if (holder !== null && isAlive(holder)) throw lockedBy(holder, agentDir, file);
      if (attempt >= 50) {
        throw new FerryError(
          'E_AGENT_ROOT_LOCKED',
          `Could not take the agent lock ${file}: another agent is starting on the same root`,
          { lockFile: file },
        );
      }
      // A stale file, left by an agent that died: taken over by one starter at a time.
      if (await takeOver(file, mine)) break;
    }
  } finally {
    await rm(mine, { force: true });
  }
  return {
    file,
    async release() {
      const holder = await readHolder(file);
      if (holder?.pid === me.pid) await rm(file, { force: true });
    },
  };
}

/** Links `from` to `to`; false when `to` exists already. */
async function linkOrExists(from: string, to: string): Promise<boolean> {
  try {
    await link(from, to);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/**
 * Replaces a stale lock file with `mine`, under a guard file so that two agents
 * starting together cannot both remove the stale one and each take the lock.
 * Answers false when it could not (another starter holds the guard, or the lock
 * has a live holder by now): the caller looks again.
 */
async function takeOver(file: string, mine: string): Promise<boolean> {
  const guard = `${file}.takeover`;
  try {
    await writeFile(guard, '', { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // A guard left by an agent that died while taking over is old: it goes.
    const since = (await stat(guard).catch(() => undefined))?.mtimeMs;
    if (since !== undefined && Date.now() - since > 10_000) await rm(guard, { force: true });
    else await new Promise((resolve) => setTimeout(resolve, 100));
    return false;
  }
  try {
    const holder = await readHolder(file);
    if (holder !== null && isAlive(holder)) return false;
    await rm(file, { force: true });
    return await linkOrExists(mine, file);
  } finally {
    await rm(guard, { force: true });
  }
}

function lockedBy(holder: LockHolder, agentDir: string, file: string): FerryError {
  return new FerryError(
    'E_AGENT_ROOT_LOCKED',
    `Another agent (PID ${holder.pid}) is running on ${path.dirname(agentDir)}; one agent per root`,
    { pid: holder.pid, lockFile: file },
  );
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
