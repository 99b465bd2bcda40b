import { readdirSync, readFileSync } from 'node:fs';

/** The fields of `/proc/<pid>/stat` the builtin driver needs. */
export interface ProcStat {
  /** One letter: R, S, D, T, Z (zombie), X (dead), … */
  state: string;
  /** Parent process id. */
  ppid: number;
  /** Process group id. */
  pgrp: number;
  /** Field 22, clock ticks after boot: with the pid it names one process, even after pid reuse. */
  startTime: string;
}

/**
 * Reads `/proc/<pid>/stat`, or null when there is no such process. Synchronous
 * on purpose: right after a spawn no event-loop turn may pass before the start
 * time is read, or the child could be reaped and its pid reused.
 */
export function readProcStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces and
  // parentheses itself, so the fixed fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const ppid = Number(fields[1]);
  const pgrp = Number(fields[2]);
  const startTime = fields[19];
  if (state === undefined || startTime === undefined || !Number.isInteger(pgrp)) return null;
  return { state, ppid, pgrp, startTime };
}

/** True while `pid` is the process that started at `startTime` and has not exited (a zombie has). */
export function isRunning(pid: number, startTime: string): boolean {
  const stat = readProcStat(pid);
  return stat !== null && stat.startTime === startTime && stat.state !== 'Z' && stat.state !== 'X';
}

/**
 * The live (not zombie) processes of process group `pgid`: a service's
 * children stay in its group, so stopping waits for all of them.
 */
export function groupMembers(pgid: number): number[] {
  // No process in the group at all (the usual answer once a service stopped):
  // one signal 0 says so, where the scan below reads every process's stat.
  if (!groupExists(pgid)) return [];
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const stat = readProcStat(pid);
    if (stat !== null && stat.pgrp === pgid && stat.state !== 'Z' && stat.state !== 'X') {
      members.push(pid);
    }
  }
  return members;
}

/**
 * False when no process (not even a zombie) is in group `pgid`; true when one
 * may be (a signal 0 to the group found one, or was not allowed to tell).
 */
function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * The children of `pid`'s main thread (`/proc/<pid>/task/<pid>/children`), or
 * [] when that cannot be read: a quick look at a process's own children, which
 * may miss some (those of its other threads); a caller that must find every
 * process of a group falls back on `groupMembers`.
 */
export function childrenOf(pid: number): number[] {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8');
  } catch {
    return [];
  }
  return text
    .split(' ')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number);
}
