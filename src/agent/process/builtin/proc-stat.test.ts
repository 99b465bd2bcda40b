import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { childrenOf, groupMembers, isRunning, readProcStat } from './proc-stat.js';

describe('proc-stat', () => {
  it('reads a live process, and counts a zombie as not running', async () => {
    // The background `sleep` becomes a zombie: its parent execs another
    // `sleep` that never waits for it.
    const child = spawn('/bin/sh', ['-c', 'sleep 0.1 & echo $!; exec sleep 5'], {
      detached: true,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      const [line] = (await once(child.stdout, 'data')) as [Buffer];
      const zombie = Number(line.toString().trim());
      const parent = readProcStat(child.pid!)!;
      expect(parent.pgrp).toBe(child.pid);
      expect(isRunning(child.pid!, parent.startTime)).toBe(true);
      expect(isRunning(child.pid!, `${parent.startTime}1`)).toBe(false); // another process with this pid
      expect(groupMembers(child.pid!).sort()).toEqual([child.pid, zombie].sort());

      const started = readProcStat(zombie)!.startTime;
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(readProcStat(zombie)?.state).toBe('Z');
      expect(isRunning(zombie, started)).toBe(false);
      expect(groupMembers(child.pid!)).toEqual([child.pid]);
    } finally {
      process.kill(-child.pid!, 'SIGKILL');
    }
  });

  it("lists a process's children, and a group that is gone has no members", async () => {
    const child = spawn('/bin/sh', ['-c', 'sleep 5 & echo $!; wait'], {
      detached: true,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    const sleeper = Number(line.toString().trim());
    expect(childrenOf(child.pid!)).toEqual([sleeper]);
    expect(groupMembers(child.pid!).sort()).toEqual([child.pid, sleeper].sort());
    const exited = once(child, 'exit');
    process.kill(-child.pid!, 'SIGKILL');
    await exited;
    // The sleeper, reparented, is reaped by init: wait until the group is empty.
    for (let i = 0; i < 100 && readProcStat(sleeper) !== null; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(groupMembers(child.pid!)).toEqual([]);
    expect(childrenOf(child.pid!)).toEqual([]);
  });

  it('says null for a process that does not exist', () => {
    expect(readProcStat(2 ** 22 + 1)).toBeNull();
  });
});
