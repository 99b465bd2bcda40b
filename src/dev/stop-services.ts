import { readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { groupMembers, readProcStat } from '../agent/process/builtin/proc-stat.js';
import { readServiceRecords } from '../agent/process/builtin/service-record.js';
import { FerryError } from '../protocol/errors.js';
import { DEFAULT_GRACE_MS } from './ferry-child.js';

/** How long SIGKILLed processes get to be gone before the harness calls them stuck. */
const KILL_WAIT_MS = 5000;

/**
 * Stops the services the builtin driver started under an agent's root, which
 * outlive their agent by design: each service's process group gets its stop
 * signal, then SIGKILL after `graceMs`, and this resolves once no process of
 * those groups is left (a zombie, exited but not yet reaped, counts as gone).
 * Call it once the agent itself has stopped, or it starts them again.
 *
 * @example
 *   await agent.stop();
 *   await stopServices(agent.root);
 */
export async function stopServices(root: string, graceMs = DEFAULT_GRACE_MS): Promise<void> {
  const folder = path.join(root, 'agent', 'services');
  const records = await readServiceRecords(folder, (file, error) => {
    process.stderr.write(`ferry harness: skipping service record ${file}: ${String(error)}\n`);
  }).catch((err: unknown) => {
    // No folder: this agent never started a service.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  });
  const groups: number[] = [];
  for (const record of records) {
    if (record.pid === null) continue;
    const leader = readProcStat(record.pid);
    // The pid leads another process group now: not this service's.
    if (leader && leader.startTime !== record.startTime && leader.pgrp === record.pid) continue;
    if (signalGroup(record.pid, record.spec.stopSignal)) groups.push(record.pid);
  }
  if (groups.length === 0) return;
  if (await allGone(groups, graceMs)) return;
  for (const pgid of groups) signalGroup(pgid, 'SIGKILL');
  if (await allGone(groups, KILL_WAIT_MS)) return;
  const left = groups.flatMap((pgid) => groupMembers(pgid));
  throw new FerryError(
    'E_INTERNAL',
    `Services under ${root} did not stop, even after SIGKILL: processes ${left.join(', ')}`,
  );
}

/** Sends a signal to a process group; false when the group has no process left. */
function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** Waits until no live process is left in these groups, up to `timeoutMs`. */
async function allGone(groups: number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (groups.every((pgid) => groupMembers(pgid).length === 0)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Kills whatever still runs in a folder of the cluster (its working folder is
 * under `root`) once the server, the agents and the services are stopped: a
 * hook or install command an agent killed mid-job left behind. Says on stderr
 * what it found, since each is a process that outlived its owner.
 */
export async function killStragglers(root: string): Promise<void> {
  const prefix = `${path.resolve(root)}${path.sep}`;
  const found: number[] = [];
  for (const entry of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const cwd = await readlink(`/proc/${entry}/cwd`).catch(() => '');
    if (!`${cwd}${path.sep}`.startsWith(prefix)) continue;
    const stat = readProcStat(pid);
    if (stat === null || stat.state === 'Z' || stat.state === 'X') continue;
    found.push(pid);
  }
  if (found.length === 0) return;
  process.stderr.write(
    `ferry harness: killing processes left running under ${root}: ${found.join(', ')}\n`,
  );
  for (const pid of found) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
  const deadline = Date.now() + KILL_WAIT_MS;
  while (found.some((pid) => alive(pid)) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** True while a process runs (a zombie does not). */
function alive(pid: number): boolean {
  const stat = readProcStat(pid);
  return stat !== null && stat.state !== 'Z' && stat.state !== 'X';
}
